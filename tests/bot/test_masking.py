"""Masking of phone and ID-card numbers: single numbers, free text, and text of any shape."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.masking import id_card_checksum_ok, mask_id_card, mask_phone, mask_sensitive_text

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+8613800138000", "138****8000"),
        ("13800138000", "138****8000"),
        ("008613800138000", "138****8000"),
        ("138 0013 8000", "138****8000"),
        ("１３８００１３８０００", "138****8000"),
        ("幺三八零零幺三八零零零", "138****8000"),
        ("010-62345678", "010****5678"),
        ("0591-2860 0000", "0591****0000"),
        ("+86 10 6234 5678", "010****5678"),
        ("+85291234567", "+852****4567"),
        ("4001234567", "400****4567"),
        ("28600000", "****0000"),
        ("12345", "****"),
        ("", "****"),
        ("not a number", "****"),
    ],
)
def test_mask_phone(number: str, masked: str) -> None:
    """Mobiles keep 3 + 4 digits, landlines their area code + 4, short input nothing."""
    assert mask_phone(number) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("11010519491231002X", "110***********002X"),
        ("11010519491231002x", "110***********002X"),
        ("440308199003071235", "440***********1235"),
        ("110105491231002", "110********1002"),
        ("110105 19491231 002X", "110***********002X"),
        ("1234", "****"),
        ("", "****"),
    ],
)
def test_mask_id_card(number: str, masked: str) -> None:
    """An ID number keeps its first three and last four characters and its length."""
    assert mask_id_card(number) == masked


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("11010519491231002X", True),
        ("11010519491231002x", True),
        ("440308199003071235", True),
        ("440308199003071234", False),
        ("11010519491231002", False),
        ("１１０１０５１９４９１２３１００２Ｘ", False),
    ],
)
def test_id_card_checksum(number: str, valid: bool) -> None:
    """The 18th character is the ISO 7064 MOD 11-2 check character of the first 17."""
    assert id_card_checksum_ok(number) is valid


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13800138000", "电话138****8000"),
        ("call +86 138 0013 8000 now", "call 138****8000 now"),
        ("手机１３８－００１３－８０００。", "手机138****8000。"),
        ("我的电话幺三八零零幺三八零零零", "我的电话138****8000"),
        ("座机0591-28600000", "座机0591****0000"),
        ("座机(0591) 2860 0000", "座机(0591****0000"),
        ("身份证11010519491231002X", "身份证110***********002X"),
        ("身份证 110105 19491231 002x", "身份证 110***********002X"),
        ("身份证110105194912310021", "身份证110***********0021"),  # bad checksum: masked anyway
        ("老身份证110105491231002", "老身份证110********1002"),
        ("13800138000，13900000001", "138****8000，139****0001"),
        ("13800138000 13900000001", "138****8000 139****0001"),
        ("+14155550123", "+141****0123"),
        ("卡号6222 0212 3456 7894", "卡号****7894"),
        ("电话١٣٨٠٠١٣٨٠٠٠", "电话138****8000"),
        ("价格1234567元", "价格****4567元"),
    ],
)
def test_mask_sensitive_text_masks_numbers(text: str, masked: str) -> None:
    """Phone, landline, E.164 and ID-card numbers in any written form are masked in place."""
    assert mask_sensitive_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "",
        "路灯坏了三天",
        "案件202611220017已受理",
        "案件号 ZT-2026 1122 0017",
        "2026-11-03 20:35:01 worker started",
        "2026/11/3 收到",
        "共123456户",
        "门牌12号，邮编350100",
        "138****8000",
        "110***********002X",
    ],
)
def test_mask_sensitive_text_keeps_harmless_text(text: str) -> None:
    """Case numbers, dates, short numbers and already masked numbers stay as written."""
    assert mask_sensitive_text(text) == text


def test_mask_sensitive_text_with_several_numbers() -> None:
    """Every number in a message with several of them is masked, the rest kept."""
    text = (
        "我是李四，手机13800138000，备用+86 139 0000 0001，身份证11010519491231002X，"
        "家里电话0591-28600000，案件202611220017。"
    )
    assert mask_sensitive_text(text) == (
        "我是李四，手机138****8000，备用139****0001，身份证110***********002X，"
        "家里电话0591****0000，案件202611220017。"
    )


MOBILES = st.from_regex(re.compile(r"1[3-9][0-9]{9}"), fullmatch=True)
# Text around a number: anything but digits (spoken digits included) and number punctuation.
NOT_DIGITS = st.text(
    st.characters(
        blacklist_categories=("Nd", "No", "Nl", "Cs"),
        blacklist_characters="+＋Xxｘ零〇○Ｏ洞一幺壹二两贰三叁四肆五伍六陆七拐柒八捌九勾玖",
    ),
    max_size=30,
)


@PROPERTY_SETTINGS
@given(st.text())
def test_mask_sensitive_text_never_raises(text: str) -> None:
    """Any string at all comes back as a string."""
    assert isinstance(mask_sensitive_text(text), str)


@PROPERTY_SETTINGS
@given(
    st.text(
        st.sampled_from("0123456789０１２３４５６７８９幺两零 -+()Xx\t\n\x00\x1f中a"),
        max_size=300,
    )
)
def test_mask_sensitive_text_never_raises_on_digit_soup(text: str) -> None:
    """Text made mostly of digits, separators and control characters is handled."""
    assert isinstance(mask_sensitive_text(text), str)


@PROPERTY_SETTINGS
@given(NOT_DIGITS, MOBILES, NOT_DIGITS)
def test_mask_sensitive_text_hides_every_mobile(before: str, mobile: str, after: str) -> None:
    """A mobile number anywhere in text never survives masking."""
    masked = mask_sensitive_text(before + mobile + after)
    assert masked == f"{before}{mobile[:3]}****{mobile[-4:]}{after}"


@PROPERTY_SETTINGS
@given(st.text(max_size=200))
def test_mask_sensitive_text_is_idempotent(text: str) -> None:
    """Masking masked text changes nothing."""
    once = mask_sensitive_text(text)
    assert mask_sensitive_text(once) == once


def test_mask_sensitive_text_on_long_input() -> None:
    """10,000 characters of digits, text and control characters are masked in one pass."""
    text = ("电话13800138000\x00\t" + "9" * 50 + "ok ") * 200
    masked = mask_sensitive_text(text[:10_000])
    assert "13800138000" not in masked
    assert "9" * 50 not in masked


@pytest.mark.parametrize(
    "text", ["如有人身危险请立即拨打119/120/110。", "call 119 / 120 / 110 now", "请拨打12345/12315"]
)
def test_public_service_numbers_are_left_alone(text: str) -> None:
    """The bot's own emergency advice is not masked as if it were a phone number (the console
    showed "拨打****0110")."""
    assert mask_sensitive_text(text) == text
    assert mask_sensitive_text(text + "电话13800138000").endswith("138****8000")
