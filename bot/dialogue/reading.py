"""Reading a message: everything the dialogue needs to know about it, computed once per step.

The NLU's parse (from the shell) gives the intent ranking; the entity extractor gives places,
names and case numbers; `bot.dialogue.words` gives commands, short answers and danger words.
A malformed parse is read as far as it makes sense and otherwise ignored, never trusted.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot import entities as entity_kinds
from bot.case_numbers import find_case_numbers, parse_case_number
from bot.dialogue import words
from bot.dialogue.context import Context, Inbound
from bot.entities import Entity, extract_entities
from bot.normalize import normalize
from intents.catalog import Catalog

# Only this much of a message is analysed (places, names, numbers); the description keeps all.
MAX_ANALYSED_CHARS = 600
MAX_CASE_NUMBERS = 3

META_INTENTS = frozenset(
    {"greet", "thanks", "affirm", "deny", "check_status", "request_human", "opt_out"}
    | {"out_of_scope"}
)


@dataclass(frozen=True)
class Candidate:
    """A catalog item the classifier ranked, with its confidence."""

    code: str
    confidence: float


@dataclass(frozen=True)
class Reading:
    """What one message says, as far as the dialogue is concerned.

    Attributes:
        raw: the message as received.
        text: its normalised form (`bot.normalize`).
        compact: lower case, no spaces or punctuation: what short answers are matched on.
        spaced: lower case, punctuation as spaces: what English phrases are matched on.
        language: "zh", "en", or None when the message does not tell (digits, "ok").
        intent: the NLU's top intent, None without one.
        intent_confidence: its confidence.
        items: catalog items in the ranking, best first, with their confidences.
        areas: the places named, one tuple of area ids per mention (several when ambiguous).
        name: a name the resident gave for themself (我叫…), if any.
        case_numbers: case numbers in the message, at most `MAX_CASE_NUMBERS`.
    """

    raw: str
    text: str
    compact: str
    spaced: str
    language: str | None
    intent: str | None
    intent_confidence: float
    items: tuple[Candidate, ...]
    areas: tuple[tuple[int, ...], ...]
    name: str | None
    case_numbers: tuple[str, ...]
    entity_spans: tuple[tuple[int, int], ...]
    area_spans: tuple[tuple[int, int], ...] = ()
    name_spans: tuple[tuple[int, int], ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing readable: blank, emoji only, control characters."""
        return not self.compact

    @property
    def top_item(self) -> Candidate | None:
        """The best-ranked catalog item, if the ranking has one."""
        return self.items[0] if self.items else None

    def meta(self, name: str, threshold: float) -> bool:
        """Whether the NLU's top intent is the meta intent `name` with enough confidence."""
        return self.intent == name and self.intent_confidence >= threshold

    def item_at_least(self, threshold: float) -> Candidate | None:
        """The top item when its confidence reaches `threshold`."""
        top = self.top_item
        return top if top is not None and top.confidence >= threshold else None

    @property
    def topic(self) -> str | None:
        """The FAQ topic the message asks about, if it asks one."""
        return words.question_topic(self.compact, self.spaced)

    @property
    def is_question(self) -> bool:
        """Whether the message is put as a question."""
        return words.is_question(self.text)

    @property
    def urgent_item(self) -> str | None:
        """The concern a danger word points to, if the message has one."""
        return words.urgent_item(self.compact, self.spaced)

    @property
    def choice(self) -> int | None:
        """The number the message picks (1, ①, 一, 第二个), if it is one."""
        return words.read_choice(self.compact)

    @property
    def rating(self) -> int | None:
        """The survey level the message gives, if it gives one."""
        return words.read_rating(self.compact)

    @property
    def yes(self) -> bool:
        """A yes (是, 好的, ok) — the word, or the NLU's affirm."""
        return self.compact in words.YES_WORDS or (
            self.meta("affirm", 0.6) and len(self.compact) <= 8
        )

    @property
    def accepts(self) -> bool:
        """Takes up an offer: a yes, or a request to have it done (帮我代办, 好的帮我办一下)."""
        return self.yes or words.accepts_offer(self.compact)

    @property
    def no(self) -> bool:
        """A no (不是, 不用) — the word, or the NLU's deny."""
        return self.compact in words.NO_WORDS or (self.meta("deny", 0.6) and len(self.compact) <= 8)

    def without_places(self, *, names: bool = False) -> str:
        """The (normalised) message with its places (and, if asked, names) cut out; each cut
        leaves a comma, so that the words on either side stay apart."""
        spans = (*self.area_spans, *(self.name_spans if names else ()))
        return ", ".join(self._pieces(spans))

    def leftover(self) -> str:
        """The message without its entities (places, numbers, names' triggers) and fillers."""
        rest = words.squeeze(" ".join(self._pieces(self.entity_spans)))
        return _FILLERS.sub("", rest)

    def _pieces(self, spans: tuple[tuple[int, int], ...]) -> list[str]:
        analysed = self.text[:MAX_ANALYSED_CHARS]
        pieces, position = [], 0
        for start, end in sorted(spans):
            if start >= position:
                pieces.append(analysed[position:start])
                position = end
        pieces.append(analysed[position:])
        return pieces


_FILLERS = re.compile(r"^(我叫|我是|我姓|姓名是?|名字是?|叫我|本人)|(村民|的)$")


def read(message: Inbound, context: Context) -> Reading:
    """Read a message once, for every decision of the step."""
    raw = message.text if isinstance(message.text, str) else ""
    text = normalize(raw)
    analysed = text[:MAX_ANALYSED_CHARS]
    parse = message.parse if isinstance(message.parse, Mapping) else {}
    intent, confidence = _top_intent(parse)
    found = _entities(analysed, context)
    areas = _areas(found, context)
    names = [e.value for e in found if e.entity == entity_kinds.NAME and isinstance(e.value, str)]
    numbers = [e.value for e in found if e.entity == entity_kinds.CASE_NUMBER]
    numbers += find_case_numbers(analysed)
    numbers += _parse_case_numbers(parse)
    case_numbers = tuple(dict.fromkeys(str(n) for n in numbers))[:MAX_CASE_NUMBERS]
    return Reading(
        raw=raw,
        text=text,
        compact=words.squeeze(text),
        spaced=words.spaced(text),
        language=words.detect_language(text),
        intent=intent,
        intent_confidence=confidence,
        items=_items(parse, context.catalog),
        areas=areas,
        name=names[0] if names else _parse_name(parse),
        case_numbers=case_numbers,
        entity_spans=tuple((e.start, e.end) for e in found),
        area_spans=tuple((e.start, e.end) for e in found if e.entity == entity_kinds.AREA),
        name_spans=tuple((e.start, e.end) for e in found if e.entity == entity_kinds.NAME),
    )


def _entities(text: str, context: Context) -> list[Entity]:
    """Our own entities; they are pure, so the step computes them whatever the NLU gave."""
    if not text:
        return []
    return extract_entities(text, now=context.now, gazetteer=context.gazetteer)


def _areas(found: list[Entity], context: Context) -> tuple[tuple[int, ...], ...]:
    """One tuple of area ids per place mention, the likeliest first, known areas only."""
    mentions: dict[tuple[int, int], list[int]] = {}
    for entity in found:
        if entity.entity != entity_kinds.AREA or not isinstance(entity.value, int):
            continue
        if context.gazetteer.get(entity.value) is None:
            continue
        ids = mentions.setdefault((entity.start, entity.end), [])
        if entity.value not in ids:
            ids.append(entity.value)
    return tuple(tuple(ids) for _, ids in sorted(mentions.items()))


def _top_intent(parse: Mapping[str, Any]) -> tuple[str | None, float]:
    intent = parse.get("intent")
    if not isinstance(intent, Mapping):
        return None, 0.0
    name = intent.get("name")
    if not isinstance(name, str):
        return None, 0.0
    return name, _confidence(intent.get("confidence"))


def _items(parse: Mapping[str, Any], catalog: Catalog) -> tuple[Candidate, ...]:
    """The catalog items of the ranking (or of the top intent alone), best first."""
    ranking = parse.get("intent_ranking")
    entries: list[Any] = list(ranking) if isinstance(ranking, list | tuple) else []
    top = parse.get("intent")
    if isinstance(top, Mapping):
        entries.insert(0, top)
    codes = {item.code for item in catalog.items}
    best: dict[str, float] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        name = entry.get("name")
        if isinstance(name, str) and name in codes:
            best[name] = max(best.get(name, 0.0), _confidence(entry.get("confidence")))
    ordered = sorted(best.items(), key=lambda pair: -pair[1])
    return tuple(Candidate(code, confidence) for code, confidence in ordered)


def _confidence(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    number = float(value)
    return min(max(number, 0.0), 1.0) if math.isfinite(number) else 0.0


def _parse_entities(parse: Mapping[str, Any], kind: str) -> list[Any]:
    found = parse.get("entities")
    if not isinstance(found, list | tuple):
        return []
    return [
        entity.get("value")
        for entity in found
        if isinstance(entity, Mapping) and entity.get("entity") == kind
    ]


def _parse_case_numbers(parse: Mapping[str, Any]) -> list[str]:
    values = _parse_entities(parse, entity_kinds.CASE_NUMBER)
    return [n for v in values if isinstance(v, str) and (n := parse_case_number(v)) is not None]


def _parse_name(parse: Mapping[str, Any]) -> str | None:
    names = [v for v in _parse_entities(parse, entity_kinds.NAME) if isinstance(v, str)]
    return names[0].strip()[:40] or None if names else None


def older_than(moment: dt.datetime | None, now: dt.datetime, limit: dt.timedelta) -> bool:
    """Whether `moment` lies more than `limit` before `now` (or implausibly after it)."""
    if moment is None:
        return False
    age = now - moment
    return age > limit or age < -dt.timedelta(minutes=10)
