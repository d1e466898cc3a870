"""Speaking to callers: digits read aloud, bot replies reworded for the phone, hotline prompts."""

from __future__ import annotations

import pytest

from bot.case_numbers import parse_case_number
from bot.texts import LANGUAGES, TextsError, texts
from bot.voice import (
    MAX_SPOKEN_CHARS,
    VOICE_TEXTS_PATH,
    prompt,
    speakable,
    spoken_case_number,
    spoken_digits,
    voice_texts,
)


@pytest.mark.parametrize(
    ("digits", "language", "group", "spoken"),
    [
        ("202611220015", "zh", 4, "二零二六，幺幺二二，零零幺五"),
        ("2026112200150", "zh", 4, "二零二六，幺幺二二，零零幺五，零"),
        ("110", "zh", 0, "幺幺零"),
        ("0123456789", "zh", 0, "零幺二三四五六七八九"),
        ("2026-1122 0015", "zh", 4, "二零二六，幺幺二二，零零幺五"),  # separators ignored
        ("202611220015", "en", 4, "2 0 2 6, 1 1 2 2, 0 0 1 5"),
        ("", "zh", 4, ""),
    ],
)
def test_spoken_digits(digits: str, language: str, group: int, spoken: str) -> None:
    """Digits are read one by one (1 as 幺), in groups of four with a pause."""
    assert spoken_digits(digits, language, group=group) == spoken


def test_a_spoken_case_number_reads_back_as_the_same_number() -> None:
    """What the caller hears is what the case-number parser reads back (幺 = 1, 零 = 0)."""
    for number in ["202611220015", "202701010001", "2026112212345"]:
        assert parse_case_number(spoken_case_number(number).replace("，", "")) == number


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("是请回复1，不是请回复2。", "是请按1或说“是”，不是请按2或说“不是”。"),
        ("回复“人工”可转人工", "说“人工”可转人工"),
        (
            "发送案件号可查进度；分类不对请回复0更正。",
            "说出案件号可查进度；分类不对请说“不对”更正。",
        ),
        ("有事随时发消息给我。", "有事随时来电。"),
        ("工作人员将在明天后回复您。", "工作人员将在明天后联系您。"),
        ("请写清村名", "请说清村名"),
        ("案件号202611220015。", "案件号二零二六，幺幺二二，零零幺五。"),
        ("案件号ZT202611220015。", "案件号Z T 二零二六，幺幺二二，零零幺五。"),
        ("请拨打110/119/120", "请拨打幺幺零/幺幺九/幺二零"),
        ("11月30日17:30前，15个工作日，2026年", "11月30日17:30前，15个工作日，2026年"),
        ("费用3.50元", "费用3.50元"),
        ("详见 https://zw.example.gov.cn/a?b=1 谢谢", "详见 谢谢"),
        ("好的😀👍🏽！", "好的！"),
        ("【紧急】已登记", "紧急，已登记"),
        ("您可以：\n1 反映问题\n2 查进度", "您可以：1 反映问题。2 查进度"),
    ],
)
def test_speakable_rewords_chinese_replies_for_the_phone(text: str, spoken: str) -> None:
    """Screen wording becomes phone wording; links and emoji go; numbers are read digit-wise."""
    assert speakable(text) == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Reply 1 for yes, 2 for no.", "Press 1 for yes, 2 for no."),
        ("or reply HUMAN to talk to a person", "or say HUMAN to talk to a person"),
        ("Send the case number to check progress.", "Say the case number to check progress."),
        ("Message me any time.", "call us any time."),
        ("Case number 202611220015.", "Case number 2 0 2 6, 1 1 2 2, 0 0 1 5."),
        ("call 110/119/120.", "call 1 1 0/1 1 9/1 2 0."),
    ],
)
def test_speakable_rewords_english_replies(text: str, spoken: str) -> None:
    """English replies get the same treatment: press, say, digits one by one."""
    assert speakable(text, "en") == spoken


def test_every_bot_reply_is_speakable_without_screen_words() -> None:
    """No reply text, once spoken, still asks the caller to 回复 or holds a link or emoji."""
    replies = texts()
    for key in replies.text_keys():
        spoken = speakable(replies.template(key, "zh"))
        assert "回复" not in spoken, key
        assert "http" not in spoken, key


def test_a_very_long_reply_is_cut_at_a_sentence() -> None:
    """Nobody is kept listening for minutes: long text is cut, at a sentence when possible."""
    spoken = speakable("路灯坏了。" * 400)
    assert len(spoken) <= MAX_SPOKEN_CHARS and spoken.endswith("。")


def test_hostile_text_is_spoken_safely() -> None:
    """Control characters, private-use and lone surrogates are dropped, never raised on."""
    spoken = speakable("路灯\x00\x07\ue000\ud800坏了\u200d")
    assert spoken == "路灯坏了"


def test_the_hotline_prompts_exist_in_both_languages() -> None:
    """intents/voice.yml loads with the replies loader: every key in Chinese and English."""
    loaded = voice_texts()
    assert VOICE_TEXTS_PATH.name == "voice.yml"
    for key in ["greeting", "no_input", "offer_person", "voicemail_prompt", "case_number_prompt"]:
        for language in LANGUAGES:
            assert loaded.template(key, language).strip()
    assert "按0" in prompt("greeting") and "0 for a person" in prompt("greeting", "en")
    assert "案件号ZT1" in prompt("sms_receipt", case_number="ZT1")


def test_an_unknown_prompt_is_a_clear_error() -> None:
    """A misspelt key fails loudly rather than saying nothing to the caller."""
    with pytest.raises(TextsError, match="no reply text"):
        prompt("no_such_prompt")
