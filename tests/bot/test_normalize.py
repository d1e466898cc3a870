"""Tests for bot.normalize: the canonical form of a resident's message."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.normalize import normalize

# No example database in the work tree; no deadline for 10,000-character inputs.
QUICK = settings(database=None, deadline=None, max_examples=200)
LONG = settings(
    database=None, deadline=None, max_examples=20, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("   ", ""),
        ("ＡＢＣ１２３！？", "ABC123!?"),
        ("我想申請低保", "我想申请低保"),
        ("辦理獨生子女證", "办理独生子女证"),
        ("你好\u3000\u3000世界", "你好 世界"),
        ("a\t\n\r b", "a b"),
        ("低\u200b保\u200d", "低保"),
        ("\ufeff宅基地", "宅基地"),
        ("路灯坏了😡😡", "路灯坏了"),
        ("👨\u200d👩\u200d👧 ok ❤️", "ok"),
        ("电话幺三八 零零幺三 八零零零", "电话13800138000"),
        ("案件号〇〇幺二三", "案件号00123"),
        ("０７５５１２３", "0755123"),
        ("两个人", "两个人"),
        ("等一下", "等一下"),
        ("「你好」。《通知》、", "「你好」。《通知》、"),
        ("温度38℃", "温度38°C"),
        ("a\x00b\x07c", "abc"),
        ("\ud800孤立代理", "孤立代理"),
        ("\ue000私用区", "私用区"),
    ],
)
def test_normalize_table(raw: str, expected: str) -> None:
    """Each kind of input is folded to the documented canonical form."""
    assert normalize(raw) == expected


def test_keeps_leading_zeros_in_digit_runs() -> None:
    """A spoken number starting with zero keeps its zeros."""
    assert normalize("零零七号") == "007号"


def _is_clean(text: str) -> bool:
    """No control, format, surrogate, private-use or unassigned character; tidy whitespace."""
    categories = {unicodedata.category(char) for char in text}
    return (
        not categories & {"Cc", "Cf", "Cs", "Co", "Cn"}
        and text == text.strip()
        and "  " not in text
        and not any(char.isspace() and char != " " for char in text)
    )


@QUICK
@given(st.text())
def test_never_raises_and_output_is_clean(text: str) -> None:
    """Any string, including odd Unicode, gives a clean string without raising."""
    assert _is_clean(normalize(text))


@QUICK
@given(st.text(alphabet=st.characters(codec=None, categories=["Cc", "Cf", "Cs", "Co", "Zs"])))
def test_invisible_only_input_becomes_empty(text: str) -> None:
    """Text made only of controls, format characters, surrogates and spaces normalises to ''."""
    assert normalize(text) == ""


@QUICK
@given(
    st.text(
        alphabet=st.sampled_from(
            list("我們申請低保宅基地ＡＢＣａｂｃ１２３abcXYZ 　，。！😀\u200b零一二三幺两")
        )
    )
)
def test_mixed_scripts_are_clean_and_half_width(text: str) -> None:
    """Mixed Chinese, Latin, full-width, emoji and digits come out half-width and clean."""
    result = normalize(text)
    assert _is_clean(result)
    assert not any("\uff01" <= char <= "\uff5e" for char in result)


@LONG
@given(st.text(min_size=1, max_size=200))
def test_ten_thousand_characters(chunk: str) -> None:
    """A 10,000-character message (any characters, repeated) is handled without raising."""
    text = (chunk * (10_000 // len(chunk) + 1))[:10_000]
    assert _is_clean(normalize(text))


def test_ten_thousand_chinese_characters() -> None:
    """A long traditional-Chinese message is converted whole."""
    assert normalize("們" * 10_000) == "们" * 10_000
