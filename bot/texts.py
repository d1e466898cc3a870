"""Reply texts (`intents/replies.yml`): loading, rendering, and the SMS length rule.

Every text the bot sends lives in ``intents/replies.yml``, in Simplified Chinese and English,
so that a county can reword them without touching code. A `bot.effects.Reply` names a text by
key; `render` fills its placeholders (``str.format`` syntax) in the reply's language. A
parameter may itself be a reply (a date, a time limit) or a tuple of replies (one per line).

Texts should fit in two SMS segments after their placeholders are filled: 134 characters when
the text needs UCS-2 (any Chinese), 306 GSM-7 characters otherwise (`sms_segments`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import re
import string
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.effects import CASE_PARAMS, ParamValue, Reply
from intents import DATA_DIR

REPLIES_PATH = DATA_DIR / "replies.yml"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
MAX_SMS_SEGMENTS = 2

# GSM 03.38: the basic character set, and the extension table (each costs two septets).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
_GSM_SINGLE, _GSM_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67


class TextsError(ValueError):
    """The replies file is malformed, or a reply cannot be rendered with its parameters."""


@dataclasses.dataclass(frozen=True)
class Texts:
    """The reply texts by key, each in every language of `LANGUAGES`."""

    entries: Mapping[str, Mapping[str, str]]

    def template(self, key: str, language: str) -> str:
        """The text for `key` in `language` (Chinese for an unknown language).

        Raises:
            TextsError: no text has this key.
        """
        try:
            entry = self.entries[key]
        except KeyError:
            raise TextsError(f"no reply text with key {key!r}") from None
        return entry.get(language) or entry[DEFAULT_LANGUAGE]

    def text_keys(self) -> list[str]:
        """Every text key, in file order."""
        return list(self.entries)

    def placeholders(self, key: str, language: str) -> set[str]:
        """The placeholder names the text for `key` uses in `language`."""
        return _placeholders(self.template(key, language))


def load_texts(path: Path = REPLIES_PATH) -> Texts:
    """Read and check a replies file: every key has a non-empty text in every language.

    Raises:
        TextsError: missing file, bad YAML, a key without both languages, or a text whose
            placeholders are not valid format fields.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TextsError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise TextsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not raw:
        raise TextsError(f"{path}: expected a mapping of text keys")
    entries: dict[str, dict[str, str]] = {}
    for key, entry in raw.items():
        if not isinstance(key, str) or not isinstance(entry, dict):
            raise TextsError(f"{path}: {key!r}: expected a mapping of languages")
        texts: dict[str, str] = {}
        for language in LANGUAGES:
            text = entry.get(language)
            if not isinstance(text, str) or not text.strip():
                raise TextsError(f"{path}: {key}: missing text in {language!r}")
            try:
                _placeholders(text)
            except ValueError as exc:
                raise TextsError(f"{path}: {key}.{language}: {exc}") from exc
            texts[language] = text.strip("\n")
        extra = set(entry) - set(LANGUAGES)
        if extra:
            raise TextsError(f"{path}: {key}: unknown languages {sorted(extra)}")
        entries[key] = texts
    return Texts(entries)


@cache
def texts() -> Texts:
    """The project's reply texts, loaded once per process."""
    return load_texts()


def render(reply: Reply, texts: Texts, language: str | None = None) -> str:
    """The text of a reply with its placeholders filled.

    Args:
        reply: the effect from the dialogue (with `after` already filled, see `fill_case`).
        texts: the loaded reply texts.
        language: overrides the reply's own language.

    Raises:
        TextsError: unknown key, or a placeholder the parameters do not fill.
    """
    chosen = language or reply.language
    template = texts.template(reply.text_key, chosen)
    values = {name: _render_value(value, texts, chosen) for name, value in reply.params.items()}
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise TextsError(f"{reply.text_key}.{chosen}: cannot fill {exc}") from exc


def fill_case(
    reply: Reply, *, number: str, due: dt.datetime | None, unit: str | None = None
) -> Reply:
    """Fill the case placeholders of a reply whose `after` is set; what the shell calls.

    Args:
        reply: a reply with ``after="open_case"`` or ``"reclassify_case"``.
        number: the case number as shown to residents (with the deployment's prefix).
        due: the case's deadline in the county's time zone; None when it has none.
        unit: the name of the unit the case was routed to, in the reply's language; it replaces
            the dialogue's own guess (from the catalog) when the reply names a unit.

    Returns:
        The reply with ``case_number`` and ``due`` set and `after` cleared.
    """
    params: dict[str, ParamValue] = dict(reply.params)
    params[CASE_PARAMS[0]] = number
    params[CASE_PARAMS[1]] = moment_reply(due, reply.language)
    if unit and "unit" in params:
        params["unit"] = unit
    return dataclasses.replace(reply, params=params, after=None)


def moment_reply(moment: dt.datetime | None, language: str) -> Reply:
    """A date and time as a reply to nest in another (``datetime`` text), or ``due_unknown``."""
    if moment is None:
        return Reply("due_unknown", {}, language)
    parts = {
        "year": moment.year,
        "month": moment.month,
        "day": moment.day,
        "hour": moment.hour,
        "minute": moment.minute,
    }
    return Reply("datetime", parts, language)


def sms_segments(text: str) -> int:
    """How many SMS segments a text takes: GSM-7 when every character allows it, else UCS-2."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENSION for char in text):
        septets = len(text) + sum(char in _GSM_EXTENSION for char in text)
        return 1 if septets <= _GSM_SINGLE else math.ceil(septets / _GSM_PART)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= _UCS2_SINGLE else math.ceil(units / _UCS2_PART)


def fits_sms(text: str, segments: int = MAX_SMS_SEGMENTS) -> bool:
    """Whether a text fits in `segments` SMS segments (two by default: 134 / 306 characters)."""
    return sms_segments(text) <= segments


# Where a long text may be cut, best first: after a sentence (with its closing quotes), after a
# clause, at a space. A piece that has none of these is cut at the limit as a last resort.
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…\n])[”’」』）)\]]*|(?<=[.])[”’\"')\]]*(?=\s)")
_CLAUSE_END = re.compile(r"(?<=[，,、：:])")
_SPACE = re.compile(r"(?<=\s)")


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Cut a long text into parts of at most `limit` (by `measure`), at sentence boundaries.

    Sentences are packed greedily into parts; a sentence longer than a part is cut after a
    clause, then at a space, and only as a last resort mid-word. Whitespace around the cuts is
    dropped; no other character is lost or reordered. A text within the limit is one part.

    Args:
        text: the whole message.
        limit: the largest part, in the unit `measure` counts (characters by default; pass
            ``lambda s: len(s.encode())`` for a byte limit).
        measure: the size of a piece of text.

    Raises:
        ValueError: `limit` is smaller than one character can take.
    """
    text = text.strip()
    if measure(text) <= limit:
        return [text] if text else []
    if limit < 4:
        raise ValueError("a part must hold at least one character")
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, limit, measure, (_SENTENCE_END, _CLAUSE_END, _SPACE)):
        if current and measure(current + piece) > limit:
            parts.append(current.strip())
            current = piece.lstrip()
        else:
            current += piece
    if current.strip():
        parts.append(current.strip())
    return parts


def _pieces(
    text: str, limit: int, measure: Callable[[str], int], patterns: tuple[re.Pattern[str], ...]
) -> list[str]:
    """`text` cut at the first pattern's boundaries, pieces too long cut by the next ones."""
    if measure(text.strip()) <= limit:
        return [text]
    if not patterns:
        return _hard_cut(text, limit, measure)
    cuts = [0, *(m.end() for m in patterns[0].finditer(text) if 0 < m.end() < len(text)), len(text)]
    pieces = [text[a:b] for a, b in itertools.pairwise(cuts) if a < b]
    if len(pieces) == 1:
        return _pieces(text, limit, measure, patterns[1:])
    return [part for piece in pieces for part in _pieces(piece, limit, measure, patterns[1:])]


def _hard_cut(text: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    """Cut at the limit (binary search on the growing prefix; `measure` only grows)."""
    pieces, start = [], 0
    while start < len(text):
        low, high = start + 1, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if measure(text[start:middle]) <= limit:
                low = middle
            else:
                high = middle - 1
        pieces.append(text[start:low])
        start = low
    return pieces


def _render_value(value: ParamValue, texts: Texts, language: str) -> Any:
    if isinstance(value, Reply):
        return render(value, texts, language)
    if isinstance(value, tuple):
        return "\n".join(render(item, texts, language) for item in value)
    return value


def _placeholders(text: str) -> set[str]:
    """The field names of a format string; ValueError when it is not one."""
    names = set()
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None:
            if not name.isidentifier():
                raise ValueError(f"placeholder {{{name}}} is not a plain name")
            names.add(name)
    return names
