"""Digit normalisation: full-width, spoken and separated digits, leading zeros kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.digits import SPOKEN_DIGITS, convert_digit_runs, digits_only, to_ascii_digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0123456789", "0123456789"),
        ("０１２３４５６７８９", "0123456789"),  # full width
        ("零一二三四五六七八九", "0123456789"),
        ("〇幺两三四五六拐八勾", "0123456789"),  # as read aloud on the phone
        ("壹贰叁肆伍陆柒捌玖", "123456789"),  # financial forms
        ("○Ｏ洞", "000"),
        ("单号ab", "单号ab"),  # everything else is left alone
        ("", ""),
    ],
)
def test_to_ascii_digits(text: str, expected: str) -> None:
    """Every digit-like character becomes its ASCII digit; the rest stays."""
    assert to_ascii_digits(text) == expected


def test_every_spoken_digit_maps_to_one_ascii_digit() -> None:
    """The spoken table maps single characters to single ASCII digits."""
    assert all(len(key) == 1 and value in "0123456789" for key, value in SPOKEN_DIGITS.items())
    assert set(SPOKEN_DIGITS.values()) == set("0123456789")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("0591-2860 0000", "059128600000"),  # leading zero kept
        ("0017", "0017"),
        ("幺三八 零零幺三 八零零零", "13800138000"),
        ("2026.11.22", "20261122"),
        pytest.param(
            "１３８－００１３－８０００",
            "13800138000",
        ),
        pytest.param(
            "２０２６．１１．２２",
            "20261122",
        ),
        ("1,234、5/6", "123456"),
        ("\u3000138\u30000013", "1380013"),  # ideographic spaces
        ("138x0013", "138x0013"),  # other characters are kept so callers can tell
    ],
)
def test_digits_only(text: str, expected: str) -> None:
    """Separators are dropped, digits normalised, leading zeros kept."""
    assert digits_only(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话幺三八零零幺三八零零零", "电话13800138000"),
        ("电话 幺三八 零零幺三 八零零零 谢谢", "电话 13800138000 谢谢"),
        ("我想了解一下两个问题", "我想了解一下两个问题"),  # short runs are words
        ("等了三天", "等了三天"),
        ("一二", "一二"),
        ("一二三", "123"),
        ("门牌号零零七", "门牌号007"),
        ("单号：二〇二六幺幺二二〇〇幺七", "单号：202611220017"),
        ("１３８ ００１３ ８０００", "13800138000"),
    ],
)
def test_convert_digit_runs(text: str, expected: str) -> None:
    """Long runs of spoken or full-width digits become numbers; short ones stay words."""
    assert convert_digit_runs(text) == expected


def test_convert_digit_runs_minimum_is_configurable() -> None:
    """A caller may ask for longer runs only."""
    assert (
        convert_digit_runs("三四五 和 幺三八零零幺三八零零零", min_run=7) == "三四五 和 13800138000"
    )


@given(st.text())
def test_to_ascii_digits_keeps_length(text: str) -> None:
    """Translation is character for character: the length never changes."""
    assert len(to_ascii_digits(text)) == len(text)


@given(st.text(alphabet="0123456789", max_size=30))
def test_ascii_digits_are_unchanged(text: str) -> None:
    """A string of ASCII digits is its own normal form, leading zeros included."""
    assert digits_only(text) == convert_digit_runs(text) == text


@given(st.text())
def test_convert_digit_runs_never_raises(text: str) -> None:
    """Any text converts without error and yields a string."""
    assert isinstance(convert_digit_runs(text), str)
