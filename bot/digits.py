"""Digit normalisation shared by case numbers, phone numbers and spoken input.

Residents type full-width digits on Chinese keyboards and speech recognition writes digits as
characters (幺 for 1 when read aloud, 两 for 2, 〇/零 for 0). Everything here keeps leading
zeros: a case number or phone number is a string of digits, never an integer.
"""

from __future__ import annotations

import re

# Spoken and written Chinese digit characters → ASCII digits. 幺 (yāo) is how 1 is read aloud in
# numbers (phone numbers, case numbers); 两 is the colloquial 2.
SPOKEN_DIGITS: dict[str, str] = {
    "零": "0",
    "〇": "0",
    "○": "0",
    "Ｏ": "0",
    "洞": "0",
    "一": "1",
    "幺": "1",
    "壹": "1",
    "二": "2",
    "两": "2",
    "贰": "2",
    "三": "3",
    "叁": "3",
    "四": "4",
    "肆": "4",
    "五": "5",
    "伍": "5",
    "六": "6",
    "陆": "6",
    "七": "7",
    "拐": "7",
    "柒": "7",
    "八": "8",
    "捌": "8",
    "九": "9",
    "勾": "9",
    "玖": "9",
}

_FULL_WIDTH = {chr(0xFF10 + i): str(i) for i in range(10)}
_DIGIT_TABLE = str.maketrans({**_FULL_WIDTH, **SPOKEN_DIGITS})
# Characters that may separate digit groups when a number is written or transcribed.
_SEPARATORS = re.compile(r"[\s\-‐‑–—－_.．。·,，、/]+")


def to_ascii_digits(text: str) -> str:
    """Map full-width and spoken Chinese digits in `text` to ASCII digits, leaving the rest.

    Args:
        text: any string.

    Returns:
        The same string with every digit-like character replaced by its ASCII digit.
    """
    return text.translate(_DIGIT_TABLE)


def digits_only(text: str) -> str:
    """Return the digits of a number written with separators, spoken or in full width.

    Separators (spaces, dashes, dots) are dropped; any other non-digit is kept so that callers
    can tell a clean number from free text. Leading zeros are kept.
    """
    return _SEPARATORS.sub("", to_ascii_digits(text))


_DIGIT_CHARS = "0-9" + "".join(_FULL_WIDTH) + "".join(SPOKEN_DIGITS)
# A run of digit-like characters, allowing single separators inside it (138 0013 8000, 幺三八-…).
_DIGIT_RUN = re.compile(rf"[{_DIGIT_CHARS}](?:[\s\-]?[{_DIGIT_CHARS}])+")


def convert_digit_runs(text: str, min_run: int = 3) -> str:
    """Turn runs of at least `min_run` digit-like characters into ASCII digits.

    Short runs are left alone so that ordinary words keep their meaning (一下, 两个, 三天 are not
    numbers to dial); long runs are what speech recognition makes of a phone or case number.
    Leading zeros are kept.
    """

    def replace(match: re.Match[str]) -> str:
        run = digits_only(match.group(0))
        return run if len(run) >= min_run and run.isdigit() else match.group(0)

    return _DIGIT_RUN.sub(replace, text)
