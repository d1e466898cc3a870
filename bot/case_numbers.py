"""Case numbers: `YYYYMMDD` + a per-day sequence of at least four digits, digits only.

Digits only so a caller can key one in on a phone pad and a voice can read it aloud. A
deployment may show a prefix (``ZT``); parsing accepts it or not, with dashes and spaces,
full-width digits and spoken forms (幺 = 1, 两 = 2, 〇/零 = 0). Allocation of the sequence lives in
``cases.numbers``; this module is pure.
"""

from __future__ import annotations

import datetime as dt
import re

from bot.digits import SPOKEN_DIGITS, digits_only

SEQUENCE_MIN_DIGITS = 4
DATE_DIGITS = 8
MIN_LENGTH = DATE_DIGITS + SEQUENCE_MIN_DIGITS
# Sequences above 9999 simply grow a digit; 8 digits a day is far beyond any county's volume.
MAX_LENGTH = DATE_DIGITS + 8

_PREFIX = re.compile(r"^\s*(?:[A-Za-zＡ-Ｚａ-ｚ]{1,4})\s*[-:：#]?\s*")
_NUMBER_CHARS = "0-9０-９" + "".join(SPOKEN_DIGITS)
_GROUP_SEPARATOR = r"[\s\-‐–—－]"
_CANDIDATE = re.compile(
    r"(?:[A-Za-z]{1,4}\s*[-:：#]?\s*)?"  # optional prefix (ZT)
    rf"[{_NUMBER_CHARS}](?:{_GROUP_SEPARATOR}?[{_NUMBER_CHARS}]){{{MIN_LENGTH - 1},}}"
)


def format_case_number(day: dt.date, sequence: int) -> str:
    """Build the case number for the `sequence`-th case received on `day`.

    >>> format_case_number(dt.date(2026, 11, 22), 17)
    '202611220017'
    """
    if sequence < 1:
        raise ValueError("case sequence starts at 1")
    return f"{day:%Y%m%d}{sequence:0{SEQUENCE_MIN_DIGITS}d}"


def display_case_number(number: str, prefix: str = "") -> str:
    """Return the number as shown to people, with the deployment's prefix if any."""
    return f"{prefix}{number}"


def parse_case_number(text: str) -> str | None:
    """Read a case number written in any accepted form; None when `text` is not one.

    Accepts an optional letter prefix (ZT), dashes and spaces between groups, full-width digits
    and spoken digits. The date part must be a real calendar date so that a phone number is not
    taken for a case number.

    >>> parse_case_number("ZT-2026 1122 0017")
    '202611220017'
    >>> parse_case_number("二〇二六幺幺二二〇〇幺七")
    '202611220017'
    """
    stripped = _PREFIX.sub("", text.strip(), count=1)
    digits = digits_only(stripped)
    if not digits.isdigit() or not MIN_LENGTH <= len(digits) <= MAX_LENGTH:
        return None
    return (
        digits if _is_valid_date(digits[:DATE_DIGITS]) and int(digits[DATE_DIGITS:]) > 0 else None
    )


def find_case_numbers(text: str) -> list[str]:
    """Every case number mentioned in free text, in order, without repeats.

    A run of digit groups may hold one number written in groups (2026 1122 0017), several
    numbers side by side, or a number followed by an unrelated figure (… 2号楼). A group that is
    a whole case number by itself is taken alone; otherwise neighbouring groups are joined,
    preferring the usual twelve digits, else the longest reading.
    """
    found: list[str] = []
    for match in _CANDIDATE.finditer(text):
        for number in _numbers_in_run(_PREFIX.sub("", match.group(0), count=1)):
            if number not in found:
                found.append(number)
    return found


def _numbers_in_run(run: str) -> list[str]:
    groups = [group for group in re.split(f"{_GROUP_SEPARATOR}+", run) if group]
    numbers, start = [], 0
    while start < len(groups):
        alone = parse_case_number(groups[start])
        if alone:
            numbers.append(alone)
            start += 1
            continue
        readings = [
            (end, joined)
            for end in range(start + 2, len(groups) + 1)
            if (joined := parse_case_number("".join(groups[start:end])))
            and not any(parse_case_number(group) for group in groups[start + 1 : end])
        ]
        if not readings:
            start += 1
            continue
        # The usual 4-digit sequence first (2026 1122 0017 | 2号楼), else the longest reading.
        end, number = next(((e, n) for e, n in readings if len(n) == MIN_LENGTH), readings[-1])
        numbers.append(number)
        start = end
    return numbers


def case_number_day(number: str) -> dt.date:
    """The day a case number was issued on."""
    return dt.datetime.strptime(number[:DATE_DIGITS], "%Y%m%d").date()


def _is_valid_date(yyyymmdd: str) -> bool:
    try:
        day = dt.datetime.strptime(yyyymmdd, "%Y%m%d").date()
    except ValueError:
        return False
    return 2000 <= day.year <= 2100
