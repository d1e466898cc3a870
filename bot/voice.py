"""Speaking to callers: the hotline's own prompts and the bot's replies made fit for the ear.

The bot writes for a screen ("回复1", links, emoji, a case number as twelve digits in a row).
On the hotline the same reply is read aloud by text-to-speech inside a Twilio <Gather>, so
`speakable` turns it into something a caller can act on: keys to press instead of replies to
send, no links or pictographs, and numbers read digit by digit — 1 as 幺, as Chinese callers
read phone and case numbers, in groups of four so the caller can key or write them down.

The hotline's own prompts (greeting, re-prompts, voicemail) live in ``intents/voice.yml`` in
Chinese and English, loaded and checked by the same loader as the bot's replies. Pure: no
database, network or clock.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from bot.effects import Reply
from bot.texts import Texts, load_texts, render
from intents import DATA_DIR

VOICE_TEXTS_PATH = DATA_DIR / "voice.yml"
# Twilio accepts up to 4,096 characters in one <Say>; a reply longer than this is cut at a
# sentence so the caller is never kept listening for minutes.
MAX_SPOKEN_CHARS = 600

_ZH_DIGITS = dict(zip("0123456789", "零幺二三四五六七八九", strict=True))
_GROUP = 4
_GROUP_SEPARATOR = {"zh": "，", "en": ", "}

# Screen wording → what a caller does on the phone, in the order applied.
_ZH_WORDING: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        # A yes/no question: the caller may key it or just say it.
        (r"是请回复1，不是请回复2", "是请按1或说“是”，不是请按2或说“不是”"),
        # 0 reaches a person on the hotline; right after a receipt 不对 corrects the item.
        (r"请?回复0更正", "请说“不对”更正"),
        (r"(请)?回复(?=\s*[“\"「『‘])", r"\1说"),  # 回复“人工” → 说“人工”: a word to say
        (r"回复您", "联系您"),
        (r"请回复", "请按"),
        (r"回复", "按"),
        (r"发送案件号", "说出案件号"),
        (r"直接发送", "直接说出"),
        (r"随时发消息给我", "随时来电"),
        (r"发消息给我", "来电"),
        (r"请再发一次", "请再说一次"),
        (r"写清", "说清"),
        (r"请写", "请说"),
        (r"没看明白", "没听明白"),
    )
)
_EN_WORDING: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\bReply with (?=a number|the number)", "Press "),
        (r"\breply with (?=a number|the number)", "press "),
        (r"\bReply (?=\d)", "Press "),
        (r"\breply (?=\d)", "press "),
        (r"\bReply (?=[A-Z]{2,}\b)", "Say "),
        (r"\breply (?=[A-Z]{2,}\b)", "say "),
        (r"\bwill reply\b", "will call you back"),
        (r"\bSend (?=a |the )", "Say "),
        (r"\bsend (?=a |the |it )", "say "),
        (r"\b[Mm]essage me\b", "call us"),
    )
)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# A case number: an optional prefix of letters, then 12 to 16 digits (DESIGN.md).
_CASE_NUMBER = re.compile(r"(?<![0-9A-Za-z])([A-Z]{1,4})?(\d{12,16})(?!\d)")
# Other figures of three or more digits (110, a phone number) are read digit by digit too,
# unless they are a year, a date, a time or a count (2026年, 17:30, 15个工作日).
_FIGURE = re.compile(r"(?<![\d:：])(?<!\d\.)\d{3,}(?![\d:：年月日号点时分秒个天]|\.\d)")
_NEWLINES = re.compile(r"\s*\n+\s*")
_SPACES = re.compile(r"[ \t\u3000]+")


def spoken_digits(digits: str, language: str = "zh", *, group: int = _GROUP) -> str:
    """A string of digits as read aloud on the phone, one digit at a time.

    Chinese reads 1 as 幺 (yāo), the convention for numbers said over the phone, so it is not
    confused with 七. Groups of `group` digits are separated by a pause (a comma); 0 means no
    grouping. Anything but ASCII digits is ignored.

    >>> spoken_digits("202611220015")
    '二零二六，幺幺二二，零零幺五'
    >>> spoken_digits("110", group=0)
    '幺幺零'
    >>> spoken_digits("202611220015", "en")
    '2 0 2 6, 1 1 2 2, 0 0 1 5'
    """
    only = [char for char in digits if char in _ZH_DIGITS]
    size = group if group > 0 else max(len(only), 1)
    chunks = ["".join(only[start : start + size]) for start in range(0, len(only), size)]
    if language == "en":
        return _GROUP_SEPARATOR["en"].join(" ".join(chunk) for chunk in chunks)
    return _GROUP_SEPARATOR["zh"].join(
        "".join(_ZH_DIGITS[char] for char in chunk) for chunk in chunks
    )


def speakable(text: str, language: str = "zh") -> str:
    """A reply written for a screen, reworded and cleaned to be read aloud to a caller.

    - "回复1" becomes "请按1" and "回复“人工”" becomes "说“人工”" (English: "reply 1" → "press 1");
    - links, emoji and other pictographs are dropped;
    - case numbers are read digit by digit in groups of four, other figures of three or more
      digits (110, phone numbers) digit by digit; dates, times and counts stay as they are;
    - line breaks become pauses, and a very long text is cut at a sentence.
    """
    spoken = _URL.sub("", text)
    spoken = "".join(char for char in spoken if _keeps(char))
    for pattern, replacement in _ZH_WORDING if language != "en" else _EN_WORDING:
        spoken = pattern.sub(replacement, spoken)
    spoken = _CASE_NUMBER.sub(lambda m: _case_number(m, language), spoken)
    spoken = _FIGURE.sub(lambda m: spoken_digits(m.group(0), language, group=0), spoken)
    spoken = spoken.replace("【", "").replace("】", "，" if language != "en" else ", ")
    pause = "。" if language != "en" else ". "
    spoken = _NEWLINES.sub(pause, spoken.strip())
    spoken = re.sub(r"([。！？!?：:，,;；])\s*[。.]\s*", r"\1" + pause.strip(".。"), spoken)
    spoken = _SPACES.sub(" ", spoken).strip()
    return _cut(spoken)


def spoken_case_number(number: str, language: str = "zh") -> str:
    """A case number as the hotline reads it back (digits only, groups of four)."""
    return spoken_digits(number, language)


@cache
def voice_texts() -> Texts:
    """The hotline's own prompts (``intents/voice.yml``), loaded once per process."""
    return load_texts(VOICE_TEXTS_PATH)


def prompt(key: str, language: str = "zh", **params: str) -> str:
    """One of the hotline's prompts in `language`, placeholders filled.

    Raises:
        TextsError: no prompt has this key, or a placeholder is not given.
    """
    return render(Reply(key, dict(params), language), voice_texts())


def _case_number(match: re.Match[str], language: str) -> str:
    prefix, digits = match.group(1) or "", match.group(2)
    spelled = " ".join(prefix) + (" " if prefix else "")
    return spelled + spoken_digits(digits, language)


def _keeps(char: str) -> bool:
    """Whether a character can be spoken: no pictographs, private-use or joiners."""
    if char in "\n\t ":
        return True
    if char in "\u200d\ufe0e\ufe0f" or "\U0001f3fb" <= char <= "\U0001f3ff":
        return False
    category = unicodedata.category(char)
    return category not in {"So", "Sk", "Co", "Cs", "Cn", "Cc", "Cf"}


def _cut(text: str) -> str:
    if len(text) <= MAX_SPOKEN_CHARS:
        return text
    head = text[:MAX_SPOKEN_CHARS]
    end = max(head.rfind(mark) for mark in "。！？.!?")
    return head[: end + 1] if end > MAX_SPOKEN_CHARS // 2 else head
