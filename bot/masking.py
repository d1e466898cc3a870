"""Masking of phone and ID-card numbers for logs, notices and screens outside the case view.

DESIGN.md: phone numbers are masked elsewhere than in the case view (138****8000), ID-card
numbers in free text are masked, and logs carry no message bodies or full numbers. This runs on
every log line: one pass of a precompiled regex, no I/O, and it never raises on any string.

The text masker errs on the side of masking: any run of seven or more digits that is not a case
number or a calendar date is masked, whether or not it is a valid phone or ID-card number.
Numbers written with spaces or dashes inside, in full-width digits or read aloud (幺三八…) are
found too.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from bot.case_numbers import parse_case_number
from bot.digits import SPOKEN_DIGITS, to_ascii_digits

MASK = "****"
# Public service numbers that texts list together ("请拨打119/120/110"): never masked.
SERVICE_NUMBERS = frozenset(
    {"110", "119", "120", "122", "12345", "12315", "12333", "12348", "12369", "12110", "12320"}
)
# Runs shorter than this are amounts, house numbers or codes, never a phone or ID-card number.
MIN_MASKED_DIGITS = 7
_TAIL = 4
_ID_HEAD = 3
_ID_LENGTH = 18
_LEGACY_ID_LENGTH = 15
# A segment longer than this is no number we recognise: bank card numbers run to 19 digits.
_MAX_SEGMENT_DIGITS = 19
_CARD_LENGTHS = range(16, 20)

# \d: any script's decimal digits (full-width, Arabic-Indic, …); then the spoken ones.
_DIGIT = r"\d" + "".join(SPOKEN_DIGITS)
_SPACE = " \t\u3000\xa0"
# One or two spaces, or one dash/dot/slash/bracket with a space on either side: how people
# group the digits of a number. Commas and newlines are not separators: they separate numbers.
_SEPARATOR = rf"(?:[{_SPACE}]{{1,2}}|[{_SPACE}]?[-‐‑–—－.．·/()（）][{_SPACE}]?)"
_RUN = re.compile(
    rf"(?P<plus>[+＋][{_SPACE}]?)?"
    rf"(?P<body>[{_DIGIT}](?:{_SEPARATOR}?[{_DIGIT}]){{{MIN_MASKED_DIGITS - 1},}})"
    r"(?P<check>[XxＸｘ](?![A-Za-z0-9]))?"
)
_GROUP = re.compile(rf"[{_DIGIT}]+")
_NON_DIGIT = re.compile(r"\D")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")

# ISO 7064 MOD 11-2, as GB 11643 uses it for the 18th character of a resident ID number.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID_CHARS = frozenset("0123456789X")


def mask_phone(number: str) -> str:
    """Mask a phone number for display, keeping only enough to recognise it.

    Mobiles keep the first three and last four digits; landlines keep the area code and the
    last four; the country code (+86 or 0086) is dropped. Anything shorter than seven digits
    becomes ``****``.

    >>> mask_phone("+8613800138000")
    '138****8000'
    >>> mask_phone("0591-2860 0000")
    '0591****0000'

    Args:
        number: a phone number in any written form (spaces, dashes, full-width digits).

    Returns:
        The masked number; never the full number.
    """
    digits = _NON_DIGIT.sub("", _ascii_digits(number))
    international = number.lstrip().startswith(("+", "＋"))
    if international and not digits.startswith("86"):
        return _mask_foreign(digits)
    if digits.startswith("00") and not digits.startswith("0086"):
        return _mask_foreign(digits[2:])
    national, had_country_code = _strip_country_code(digits, international)
    if len(national) < MIN_MASKED_DIGITS:
        return MASK
    if _MOBILE.fullmatch(national):
        return f"{national[:3]}{MASK}{national[-_TAIL:]}"
    if had_country_code and not national.startswith("0"):
        national = "0" + national  # +86 10 6234 5678 is 010-6234 5678 at home
    if national.startswith("0"):
        # Beijing (010) and the 02x cities have three-digit area codes, all others four.
        area = 3 if national[1:2] in {"1", "2"} else 4
        if len(national) > area + _TAIL:
            return f"{national[:area]}{MASK}{national[-_TAIL:]}"
    if len(national) >= 10:
        return f"{national[:3]}{MASK}{national[-_TAIL:]}"
    return f"{MASK}{national[-_TAIL:]}"


def mask_id_card(number: str) -> str:
    """Mask a resident ID-card number, keeping the first three and last four characters.

    >>> mask_id_card("11010519491231002X")
    '110***********002X'

    Args:
        number: an 18- or 15-character ID number, possibly with spaces or full-width digits.

    Returns:
        The masked number with its length kept; ``****`` for anything shorter than 8 characters.
    """
    chars = "".join(
        c for c in to_ascii_digits(number).upper() if c.isascii() and c in "0123456789X"
    )
    if len(chars) < 8:
        return MASK
    return chars[:_ID_HEAD] + "*" * (len(chars) - _ID_HEAD - _TAIL) + chars[-_TAIL:]


def mask_sensitive_text(text: str) -> str:
    """Mask every phone and ID-card number in free text; never raises.

    Mobile numbers, landlines, E.164 numbers and 18/15-digit ID-card numbers are masked whether
    or not their checksum holds, in ASCII, full-width or spoken digits, with spaces or dashes
    inside. Case numbers and dates such as 2026-11-03 are left as they are; any other run of
    seven or more digits is masked to its last four.

    >>> mask_sensitive_text("电话13800138000，身份证110105194912310021")
    '电话138****8000，身份证110***********0021'

    Args:
        text: any string, e.g. a log message or an SMS body.

    Returns:
        The text with sensitive numbers masked.
    """
    return _RUN.sub(_mask_run, text)


def id_card_checksum_ok(number: str) -> bool:
    """True when an 18-character ID number's last character is its MOD 11-2 check character.

    Args:
        number: 17 ASCII digits followed by a digit or X (either case).
    """
    if len(number) != _ID_LENGTH or not number[:17].isdigit() or not number.isascii():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number, _ID_WEIGHTS, strict=False))
    return _ID_CHECK_CHARS[total % 11] == number[17].upper()


@dataclass(frozen=True)
class _Group:
    """A stretch of digits inside a run, between separators."""

    start: int
    end: int
    digits: str


@dataclass(frozen=True)
class _Segment:
    """Consecutive groups that form one number we recognise."""

    last: int  # index of the segment's last group
    replacement: str | None  # masked form; None keeps the text (case numbers, dates)
    uses_check: bool = False  # the ID card's trailing X belongs to this segment


def _mask_run(match: re.Match[str]) -> str:
    """Mask the numbers in one run of digits, splitting it where its groups form several."""
    body = match.group("body")
    groups = [_Group(g.start(), g.end(), _ascii_digits(g.group(0))) for g in _GROUP.finditer(body)]
    if len(groups) > 1 and all(group.digits in SERVICE_NUMBERS for group in groups):
        return match.group(0)  # 119/120/110: public numbers, nobody's personal data
    plus = match.group("plus") or ""
    check = match.group("check") or ""
    pieces: list[str] = []
    position = 0  # how far into body the pieces reach
    leftover: int | None = None  # first group of the unrecognised stretch being collected
    i = 0
    while i < len(groups):
        segment = _longest_known_segment(groups, i, bool(plus) and i == 0, check)
        if segment is None:
            leftover = i if leftover is None else leftover
            i += 1
            continue
        if leftover is not None:
            stretch = groups[leftover:i]
            pieces += [body[position : stretch[0].start], _mask_unknown(body, stretch)]
            position = groups[i - 1].end
            leftover = None
        if i == 0 and segment.replacement is not None:
            plus = ""  # the masked phone number says itself whether it is foreign
        pieces.append(body[position : groups[i].start])
        if segment.replacement is None:
            pieces.append(body[groups[i].start : groups[segment.last].end])
        else:
            pieces.append(segment.replacement)
        position = groups[segment.last].end
        check = "" if segment.uses_check else check
        i = segment.last + 1
    if leftover is not None:
        stretch = groups[leftover:]
        uses_check = bool(check) and sum(len(g.digits) for g in stretch) == _ID_LENGTH - 1
        masked = _mask_unknown(body, stretch, check if uses_check else "")
        pieces += [body[position : stretch[0].start], masked]
        position = len(body)
        check = "" if uses_check else check
    return plus + "".join(pieces) + body[position:] + check


def _longest_known_segment(
    groups: list[_Group], first: int, international: bool, check: str
) -> _Segment | None:
    """The longest run of groups from `first` that is a number we know, or None."""
    best: _Segment | None = None
    digits = ""
    for last in range(first, len(groups)):
        digits += groups[last].digits
        if len(digits) > _MAX_SEGMENT_DIGITS:
            break
        at_end = last == len(groups) - 1
        if at_end and check and len(digits) == _ID_LENGTH - 1:
            if id_card_checksum_ok(digits + check):
                best = _Segment(last, mask_id_card(digits + check), uses_check=True)
        elif len(digits) == _ID_LENGTH and id_card_checksum_ok(digits):
            best = _Segment(last, mask_id_card(digits))
        elif not international and _is_kept_as_written(digits, groups[first : last + 1]):
            best = _Segment(last, None)
        elif _is_phone(digits, international):
            best = _Segment(last, mask_phone(("+" if international else "") + digits))
        elif len(digits) in _CARD_LENGTHS and _luhn_ok(digits):
            best = _Segment(last, MASK + digits[-_TAIL:])  # a bank card number
    return best


def _is_kept_as_written(digits: str, groups: list[_Group]) -> bool:
    """Case numbers and dates are not personal data; logs need them as they are."""
    return parse_case_number(digits) is not None or _is_date_groups(groups)


def _mask_unknown(body: str, stretch: list[_Group], check: str = "") -> str:
    """Mask a stretch of digit groups that is no number we recognise, if it is long enough.

    Err on masking: 18 or 15 digits are taken for an ID card even with a wrong checksum.
    """
    digits = "".join(g.digits for g in stretch) + check
    if len(digits) < MIN_MASKED_DIGITS:
        return body[stretch[0].start : stretch[-1].end] + check
    if len(digits) in {_ID_LENGTH, _LEGACY_ID_LENGTH}:
        return mask_id_card(digits)
    return MASK + digits[-_TAIL:]


def _is_phone(digits: str, international: bool) -> bool:
    """Whether `digits` has the shape of a phone number (no metadata check: err on masking)."""
    if international and not digits.startswith("86"):
        return 8 <= len(digits) <= 15
    if digits.startswith("00") and not digits.startswith("0086"):
        return 10 <= len(digits) <= 17
    national, had_country_code = _strip_country_code(digits, international)
    if _MOBILE.fullmatch(national):
        return True
    if national.startswith("0"):
        return 10 <= len(national) <= 12
    return had_country_code and 9 <= len(national) <= 11


def _strip_country_code(digits: str, international: bool) -> tuple[str, bool]:
    """The national number and whether a +86/0086/86 prefix was removed."""
    if digits.startswith("0086"):
        return digits[4:], True
    if international and digits.startswith("86"):
        return digits[2:], True
    if digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        return digits[2:], True
    return digits, False


def _mask_foreign(digits: str) -> str:
    """A number outside China (digits after + or 00): its first three and last four digits."""
    if len(digits) < MIN_MASKED_DIGITS:
        return MASK
    if len(digits) >= 10:
        return f"+{digits[:3]}{MASK}{digits[-_TAIL:]}"
    return f"{MASK}{digits[-_TAIL:]}"


def _ascii_digits(text: str) -> str:
    """`to_ascii_digits`, and digits of other scripts (Arabic-Indic ٠١٢…) too."""
    converted = to_ascii_digits(text)
    if converted.isascii():
        return converted
    return "".join(
        str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in converted
    )


def _luhn_ok(digits: str) -> bool:
    """The Luhn check that bank card numbers carry in their last digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _is_date_groups(groups: list[_Group]) -> bool:
    """2026-11-03, 2026/1/3, 2026.11.03: a year, month and day written as three groups."""
    if len(groups) != 3 or len(groups[0].digits) != 4:
        return False
    if not all(1 <= len(g.digits) <= 2 for g in groups[1:]):
        return False
    year, month, day = (int(g.digits) for g in groups)
    if not 1900 <= year <= 2100:
        return False
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True
