"""Text normalisation: the first step of understanding a resident's message.

Residents type on phones with full-width keyboards, paste traditional characters, add emoji, and
speech recognition writes phone numbers as 幺三八…. Everything downstream (intent classifier,
entity extraction, case-number lookup) sees one canonical form:

- compatibility forms folded (NFKC): full-width ASCII ``ＡＢＣ１２３！`` → ``ABC123!``, the
  ideographic space → space; CJK punctuation without an ASCII twin (。、《》「」) is kept as it is;
- traditional characters → simplified (OpenCC ``t2s``);
- control characters, zero-width and other format characters, emoji, lone surrogates, private-use
  and unassigned code points removed;
- runs of spoken or full-width digits → ASCII digits, leading zeros kept (``bot.digits``);
- whitespace runs collapsed to one space, ends stripped.

Case is kept (case numbers may carry a prefix such as ``ZT``); the classifier lower-cases itself.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import opencc

from bot.digits import convert_digit_runs

# Unicode general categories dropped outright: controls (whitespace controls are turned into
# spaces before this), format characters (zero-width space/joiner, BOM, bidi marks), lone
# surrogates, private use and unassigned code points.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})

# Emoji and pictographs, with the pieces emoji sequences are built from (variation selectors,
# skin-tone modifiers, keycap combiner, tag characters). Ranges, not categories: "So" also holds
# characters that carry meaning in Chinese text (℃, №).
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # mahjong, cards, emoticons, pictographs, transport, symbols & ext.
    "\u2600-\u27bf"  # miscellaneous symbols and dingbats (☀ ☎ ✅ ❤)
    "\u2b00-\u2bff"  # arrows and stars (⭐ ⬆)
    "\u2300-\u23ff"  # technical symbols used as emoji (⌚ ⏰)
    "\ufe00-\ufe0f"  # variation selectors
    "\u20e3"  # combining enclosing keycap
    "\U000e0000-\U000e007f"  # tags (flag sequences)
    "]+"
)
_WHITESPACE = re.compile(r"\s+")


@cache
def _converter() -> opencc.OpenCC:
    """The traditional → simplified converter, built once per process (it loads dictionaries)."""
    return opencc.OpenCC("t2s")


def normalize(text: str) -> str:
    """Return the canonical form of a resident's message; never raises for any `str`.

    >>> normalize("  我想申請低保ＡＢＣ，電話幺三八 零零幺三 八零零零😀\\u200b ")
    '我想申请低保ABC,电话13800138000'

    Args:
        text: the message as received.

    Returns:
        The message folded to half-width, simplified, cleaned of invisible characters and emoji,
        with digit runs in ASCII and whitespace collapsed.
    """
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", _drop_invisible(text))
    # Compatibility forms can fold into characters dropped above (e.g. U+FEFF's relatives).
    folded = _drop_invisible(folded)
    simplified = _converter().convert(folded) if folded else ""
    digits = convert_digit_runs(simplified)
    return _WHITESPACE.sub(" ", digits).strip()


def _drop_invisible(text: str) -> str:
    """Remove emoji and characters of the dropped categories; whitespace controls become spaces."""
    text = _EMOJI.sub("", text)
    return "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
