"""Case numbers: YYYYMMDD + sequence, read in every form a resident may write or say."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.case_numbers import (
    case_number_day,
    display_case_number,
    find_case_numbers,
    format_case_number,
    parse_case_number,
)

NUMBER = "202611220017"


@pytest.mark.parametrize(
    ("day", "sequence", "expected"),
    [
        (dt.date(2026, 11, 22), 17, "202611220017"),
        (dt.date(2026, 11, 22), 1, "202611220001"),
        (dt.date(2026, 1, 2), 9999, "202601029999"),
        (dt.date(2026, 1, 2), 10000, "2026010210000"),  # grows a digit past 9999
        (dt.date(2027, 12, 31), 123456, "20271231123456"),
    ],
)
def test_format_case_number(day: dt.date, sequence: int, expected: str) -> None:
    """Date digits then at least four sequence digits, zero-padded."""
    assert format_case_number(day, sequence) == expected


@pytest.mark.parametrize("sequence", [0, -1])
def test_sequence_starts_at_one(sequence: int) -> None:
    """There is no case number 0."""
    with pytest.raises(ValueError, match="starts at 1"):
        format_case_number(dt.date(2026, 11, 22), sequence)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("", NUMBER), ("ZT", "ZT" + NUMBER)],
)
def test_display_case_number(prefix: str, expected: str) -> None:
    """The deployment's prefix is shown in front; the number stays digits only."""
    assert display_case_number(NUMBER, prefix) == expected


@pytest.mark.parametrize(
    "text",
    [
        "202611220017",
        " 202611220017 ",
        "ZT202611220017",
        "zt202611220017",
        "ZT-202611220017",
        "ZT：202611220017",
        "ZT 2026 1122 0017",
        "ZT-2026-1122-0017",
        "2026-11-22-0017",
        "2026 1122 0017",
        "2026.11.22.0017",
        "2026—1122—0017",
        "２０２６１１２２００１７",
        "ＺＴ２０２６１１２２００１７",
        "２０２６\u3000１１２２\u3000００１７",
        "二〇二六幺幺二二〇〇幺七",
        "二零二六一一二二零零一七",
        "两〇两六幺幺两两〇〇幺七",
        "二〇二六 幺幺二二 〇〇幺七",
        "ZT二〇二六幺幺二二〇〇幺七",
        pytest.param(
            "２０２６－１１２２－００１７",
        ),
    ],
)
def test_parse_accepted_forms(text: str) -> None:
    """Prefix or not, dashes, spaces, full-width and spoken digits all give the same number."""
    assert parse_case_number(text) == NUMBER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("202611220001", "202611220001"),  # leading zeros of the sequence kept
        ("200001010001", "200001010001"),
        ("2026010210000", "2026010210000"),  # five-digit sequence
        ("2026112212345678", "2026112212345678"),  # eight-digit sequence, the longest
    ],
)
def test_parse_keeps_digits(text: str, expected: str) -> None:
    """The number is a string: leading zeros and long sequences survive."""
    assert parse_case_number(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ZT",
        "进度",
        "20261122001",  # too short: 3-digit sequence
        "20261122123456789",  # too long
        "202611220000",  # sequence 0
        "202613220017",  # month 13
        "202602300017",  # 30 February
        "202502290017",  # 2025 is not a leap year
        "199912310017",  # before 2000
        "210101010017",  # after 2100
        "2026112200x7",
        "ABCDE202611220017",  # prefix of five letters
        "#202611220017",
    ],
)
def test_parse_refuses(text: str) -> None:
    """Anything that is not a well-formed number with a real date gives None."""
    assert parse_case_number(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "13800138000",
        "138 0013 8000",
        "+8613800138000",
        "+86 138 0013 8000",
        "008613800138000",
        "0591-2860 0000",
        "059128600000",
        "幺三八零零幺三八零零零",
        "110105194912310021",  # ID-card number
    ],
)
def test_phone_numbers_are_not_case_numbers(text: str) -> None:
    """Mobile, landline and ID-card numbers are never read as case numbers."""
    assert parse_case_number(text) is None
    assert find_case_numbers(f"我的电话是{text}") == []


def test_leap_day_is_a_date() -> None:
    """29 February of a leap year is a valid issue day."""
    assert parse_case_number("202802290001") == "202802290001"
    assert case_number_day("202802290001") == dt.date(2028, 2, 29)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的单号是ZT-2026 1122 0017，请查一下", [NUMBER]),
        ("查询二〇二六幺幺二二〇〇幺七的进度", [NUMBER]),
        ("202611220017和202611220018", [NUMBER, "202611220018"]),
        ("202611220018，202611220017，202611220018", ["202611220018", NUMBER]),
        ("ZT202611220017ZT202611220018", [NUMBER, "202611220018"]),
        ("电话13800138000，单号202611220017", [NUMBER]),
        ("电话13800138000 单号202611220017", [NUMBER]),
        ("单号２０２６１１２２００１７的进度", [NUMBER]),
        ("2026年11月22日反映的问题", []),
        ("没有单号", []),
        ("", []),
        pytest.param(
            "202611220017 202611220018",
            [NUMBER, "202611220018"],
        ),
        pytest.param(
            "单号202611220017 2号楼漏水",
            [NUMBER],
        ),
        pytest.param(
            "13800138000 202611220017",
            [NUMBER],
        ),
    ],
)
def test_find_case_numbers(text: str, expected: list[str]) -> None:
    """Every case number in free text, in order, once each."""
    assert find_case_numbers(text) == expected


def test_case_number_day() -> None:
    """The issue day is read from the first eight digits."""
    assert case_number_day(NUMBER) == dt.date(2026, 11, 22)
    assert case_number_day("2026010210000") == dt.date(2026, 1, 2)


days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31))
sequences = st.integers(min_value=1, max_value=99_999_999)


@given(st.text())
def test_parse_never_raises(text: str) -> None:
    """Any text gives a number or None, never an error."""
    result = parse_case_number(text)
    assert result is None or (result.isascii() and result.isdigit())


@given(st.text())
def test_find_never_raises(text: str) -> None:
    """Any text gives a list of valid case numbers."""
    assert all(parse_case_number(number) == number for number in find_case_numbers(text))


@given(days, sequences)
def test_format_then_parse_round_trips(day: dt.date, sequence: int) -> None:
    """A formatted number parses back to itself and to its day."""
    number = format_case_number(day, sequence)
    assert parse_case_number(number) == number
    assert case_number_day(number) == day


@given(days, sequences, st.sampled_from(["", "ZT", "QX"]))
def test_displayed_number_is_found_in_text(day: dt.date, sequence: int, prefix: str) -> None:
    """A number as shown to residents is found again in a reply quoting it."""
    number = format_case_number(day, sequence)
    assert parse_case_number(display_case_number(number, prefix)) == number
    assert find_case_numbers(f"您好，请查询{display_case_number(number, prefix)}的进度。") == [
        number
    ]


@given(days, st.integers(min_value=1, max_value=9999))
def test_grouped_and_spoken_forms_round_trip(day: dt.date, sequence: int) -> None:
    """Written in groups of four with dashes, or read digit by digit, the number survives."""
    number = format_case_number(day, sequence)
    grouped = "-".join(number[i : i + 4] for i in range(0, len(number), 4))
    spoken = number.translate(str.maketrans("0123456789", "〇幺两三四五六七八九"))
    assert parse_case_number(grouped) == number
    assert parse_case_number(spoken) == number
