"""Reading Latin-script words as Chinese: an English glossary and pinyin syllables.

The project's examples are three quarters Chinese. An English message could only learn from the
English examples of its intent, and a message typed in pinyin (``yibao``, ``zhaijidi``) from
nothing at all. Two cross-lingual views of a message's Latin-script words let them use what the
Chinese examples teach:

- **Glossary** (`intents/glossary.yml`): English words and phrases of up to four words, mapped to
  the Chinese words the examples use (``domestic violence`` → 家暴 家庭暴力). The longest phrase
  is matched first, left to right.
- **Pinyin**: a Latin word that splits into two or more toneless pinyin syllables (``yibao`` →
  yi bao) gives those syllables, which meet the syllables of 医保 in the Chinese examples. Words
  the glossary knows are not read as pinyin.

`bot.nlu.features.prepare` adds the glosses and syllables to the character, word and syllable
views of the message; a message without Latin-script words is unchanged. A model file carries
the glossary it was trained with, so parsing always glosses as training did.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from bot.nlu.exceptions import TrainingDataError
from intents import DATA_DIR
from intents.yamlio import load_yaml

GLOSSARY_PATH = DATA_DIR / "glossary.yml"
MAX_PHRASE_WORDS = 4
_KEY = re.compile(r"[a-z](?:[a-z' -]*[a-z])?")
_HAN_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
# Syllables of interjections and dialect readings that pypinyin lists but residents never type
# as pinyin words; left out so that fewer English words pass for pinyin.
_ODD_SYLLABLES = frozenset({"m", "n", "ng", "hm", "hng", "r", "io", "yo", "lo", "o", "e", "ei"})
# Shorter Latin words are read as English (or an abbreviation), never as pinyin.
_MIN_PINYIN_LETTERS = 4


@dataclass(frozen=True, eq=False)
class Glossary:
    """English words and phrases → Chinese words.

    Attributes:
        terms: a phrase as a tuple of lower-case words → its Chinese words.
    """

    terms: Mapping[tuple[str, ...], tuple[str, ...]]

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str | Sequence[str]]) -> Glossary:
        """Build from ``{"domestic violence": "家暴 家庭暴力"}`` (values: a string or a list).

        Raises:
            TrainingDataError: a key is not lower-case Latin words (at most four), or a value is
                not Chinese words.
        """
        terms: dict[tuple[str, ...], tuple[str, ...]] = {}
        for key, value in mapping.items():
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                raise TrainingDataError(
                    f"glossary key {key!r}: lower-case Latin words, apostrophes and hyphens only"
                )
            words = tuple(key.replace("-", " ").split())
            if len(words) > MAX_PHRASE_WORDS:
                raise TrainingDataError(f"glossary key {key!r}: at most {MAX_PHRASE_WORDS} words")
            if isinstance(value, str):
                glosses: tuple[object, ...] = tuple(value.split())
            elif isinstance(value, list | tuple):
                glosses = tuple(value)
            else:
                glosses = ()
            if not glosses or not all(
                isinstance(gloss, str) and _HAN_WORD.fullmatch(gloss) for gloss in glosses
            ):
                raise TrainingDataError(
                    f"glossary key {key!r}: the value must be Chinese words separated by spaces"
                )
            if words in terms:
                raise TrainingDataError(
                    f"glossary key {key!r}: the phrase {' '.join(words)!r} is listed twice "
                    "(hyphens count as spaces)"
                )
            terms[words] = tuple(str(gloss) for gloss in glosses)
        return cls(terms)

    def to_mapping(self) -> dict[str, list[str]]:
        """The glossary as plain data (for the model file), the inverse of `from_mapping`."""
        return {" ".join(words): list(glosses) for words, glosses in self.terms.items()}

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the glossary's content, whatever the order it was written in."""
        canonical = json.dumps(self.to_mapping(), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @cached_property
    def longest(self) -> int:
        """Words in the longest phrase (once: it bounds every lookup of a parse)."""
        return max((len(words) for words in self.terms), default=0)

    def gloss(self, words: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Chinese glosses of `words`, and the words no phrase covered, both in message order.

        The longest phrase starting at a word wins; hyphenated words count as separate words
        (``break-in`` is ``break in``).
        """
        tokens = [part for word in words for part in word.split("-") if part]
        glossed: list[str] = []
        unknown: list[str] = []
        position = 0
        longest = self.longest
        while position < len(tokens):
            for size in range(min(longest, len(tokens) - position), 0, -1):
                glosses = self.terms.get(tuple(tokens[position : position + size]))
                if glosses is not None:
                    glossed += glosses
                    position += size
                    break
            else:
                unknown.append(tokens[position])
                position += 1
        return tuple(glossed), tuple(unknown)


EMPTY_GLOSSARY = Glossary({})


@cache
def load_glossary(path: Path = GLOSSARY_PATH) -> Glossary:
    """Read a glossary file (``version: 1`` and ``terms:``), once per process and path.

    A missing file is an empty glossary: a county may delete it.

    Raises:
        TrainingDataError: the file is not YAML of that shape, or an entry is malformed.
    """
    if not path.is_file():
        return EMPTY_GLOSSARY
    try:
        document: Any = load_yaml(path)
    except Exception as exc:  # yaml.YAMLError, UnicodeDecodeError
        raise TrainingDataError(f"{path}: not a readable YAML file ({exc})") from exc
    terms = document.get("terms") if isinstance(document, dict) else None
    if not isinstance(terms, dict):
        raise TrainingDataError(f"{path}: expected a mapping with `terms:`")
    try:
        return Glossary.from_mapping(terms)
    except TrainingDataError as exc:
        raise TrainingDataError(f"{path}: {exc}") from exc


@cache
def pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable pypinyin knows, less interjections (about 410)."""
    from pypinyin import Style
    from pypinyin.constants import PINYIN_DICT
    from pypinyin.style import convert

    syllables = {
        convert(reading, Style.NORMAL, strict=True)
        for readings in PINYIN_DICT.values()
        for reading in readings.split(",")
    }
    return frozenset(s for s in syllables if s.isascii() and s.isalpha()) - _ODD_SYLLABLES


@cache
def split_pinyin(word: str) -> tuple[str, ...]:
    """`word` as two or more pinyin syllables (``zhaijidi`` → zhai ji di), else ``()``.

    Of the ways to split a word the one with the fewest syllables wins (``xian`` stays one
    syllable, so a one-syllable word is never pinyin here); ties go to the longer first syllable.
    """
    if len(word) < _MIN_PINYIN_LETTERS or not word.isascii() or not word.isalpha():
        return ()
    syllables = pinyin_syllables()
    # best[i]: fewest-syllable split of word[i:], or None when it cannot be split.
    best: list[tuple[str, ...] | None] = [None] * len(word) + [()]
    for start in range(len(word) - 1, -1, -1):
        for end in range(min(len(word), start + 6), start, -1):
            rest = best[end]
            piece = word[start:end]
            if rest is not None and piece in syllables:
                candidate = (piece, *rest)
                current = best[start]
                if current is None or len(candidate) < len(current):
                    best[start] = candidate
    split = best[0]
    return split if split is not None and len(split) >= 2 else ()
