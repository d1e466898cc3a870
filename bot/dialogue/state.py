"""The dialogue's state: which question is pending and what the resident has told us so far.

The shell stores it between messages in ``conversations.state`` (a JSON column):
`DialogueState.to_dict` gives plain JSON data and `DialogueState.from_dict` reads it back. A
stored state that does not read cleanly — an older version, a damaged row, a hand-edited
value — becomes the idle state rather than an error: the worst a resident sees is a question
asked again.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

STATE_VERSION = 1
MAX_DESCRIPTION_TURNS = 12
MAX_REMEMBERED_SURVEYS = 5
LANGUAGES = ("zh", "en")

T = TypeVar("T")


class Stage(enum.StrEnum):
    """Where the conversation is: idle, or waiting for the answer to a question."""

    IDLE = "idle"
    MENU = "menu"  # the help menu was shown: 1–4 pick an entry
    DESCRIBE = "describe"  # asked the resident to describe the matter (again)
    CONFIRM_ITEM = "confirm_item"  # 您说的是「…」吗? 1 yes 2 no
    CHOOSE_ITEM = "choose_item"  # numbered item choices
    ASK_PLACE = "ask_place"  # which village / community?
    CHOOSE_PLACE = "choose_place"  # numbered place choices (a name several areas share)
    OFFER_PROXY = "offer_proxy"  # 1 the proxy agent does it, 2 information only
    ASK_DETAILS = "ask_details"  # name and village for the proxy agent
    AFTER_ANSWER = "after_answer"  # an FAQ answer was given; 1 opens a case
    AFTER_RECEIPT = "after_receipt"  # a receipt was sent; 0 / 不对 corrects the item
    CHOOSE_CORRECTION = "choose_correction"  # which item it should have been
    SURVEY_RETRY = "survey_retry"  # the survey answer was unclear and was asked again


# Stages that wait for a specific answer: anything else is asked again.
PENDING_STAGES = frozenset(
    {
        Stage.DESCRIBE,
        Stage.CONFIRM_ITEM,
        Stage.CHOOSE_ITEM,
        Stage.ASK_PLACE,
        Stage.CHOOSE_PLACE,
        Stage.OFFER_PROXY,
        Stage.ASK_DETAILS,
        Stage.CHOOSE_CORRECTION,
    }
)
# Stages that offer something but do not insist: anything else is read as a new message.
SOFT_STAGES = frozenset(set(Stage) - PENDING_STAGES - {Stage.IDLE})


@dataclass(frozen=True)
class Draft:
    """The request being put together, before a case is opened.

    Attributes:
        item_code: the catalog item, once known.
        confidence: how sure the classifier was, 1.0 once the resident chose or confirmed it.
        candidates: the items offered as numbered choices, or the one offered for confirmation.
        alternatives: the classifier's runners-up, offered if the resident corrects the item.
        topic: the FAQ topic of a question (materials, fees, time, …), None for a request.
        area_id: the place named so far (village, grid or town).
        area_options: the places offered as numbered choices.
        suggested_area_id: the resident's known village, offered for confirmation.
        description: the resident's words, one entry per message.
        name: the name the resident gave.
        for_proxy: a proxy service the village agent is to carry out.
    """

    item_code: str | None = None
    confidence: float = 0.0
    candidates: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    topic: str | None = None
    area_id: int | None = None
    area_options: tuple[int, ...] = ()
    suggested_area_id: int | None = None
    description: tuple[str, ...] = ()
    name: str | None = None
    for_proxy: bool = False

    def with_words(self, words: str) -> Draft:
        """The draft with one more message of the resident's own words (blank ones skipped)."""
        words = words.strip()
        if not words:
            return self
        return replace(self, description=(*self.description, words)[-MAX_DESCRIPTION_TURNS:])


@dataclass(frozen=True)
class LastCase:
    """The case this conversation opened last, for the correction right after its receipt.

    Attributes:
        number: its number; the shell records it with `DialogueState.with_case_number` after
            carrying out the `OpenCase` (None until then).
        item_code: the item it was opened with.
        alternatives: the other items the classifier considered.
        opened_at: when the step that opened it ran.
        urgent: it was opened as an emergency.
        area_id: the place it was opened with (or given right after), None when unknown.
        correctable: 0 / 不对 may still correct it; a new request closes this for good.
    """

    number: str | None
    item_code: str
    alternatives: tuple[str, ...]
    opened_at: dt.datetime
    urgent: bool = False
    area_id: int | None = None
    correctable: bool = True


@dataclass(frozen=True)
class DialogueState:
    """A conversation's state between two messages; the default value is the idle state.

    Attributes:
        stage: the pending question, if any.
        language: the language the resident writes in ("zh"/"en"), None until known.
        updated_at: when the last step ran (pending questions expire, see the machine).
        tries: failed answers to the pending question so far.
        draft: the request being put together.
        last_case: the case opened last, while it may still be corrected.
        survey_retry: the case whose survey question was asked again.
        dropped_surveys: cases whose survey answer stayed unclear twice: not asked again.
        opted_out_hint_at: when an opted-out resident was last told how to opt back in.
        urgent_at: when the last urgent case was opened; further danger messages soon after
            go to a person rather than open another case, whatever was opened in between.
    """

    stage: Stage = Stage.IDLE
    language: str | None = None
    updated_at: dt.datetime | None = None
    tries: int = 0
    draft: Draft = Draft()
    last_case: LastCase | None = None
    survey_retry: str | None = None
    dropped_surveys: tuple[str, ...] = ()
    opted_out_hint_at: dt.datetime | None = None
    urgent_at: dt.datetime | None = None

    def with_case_number(self, number: str) -> DialogueState:
        """Record the number of the case the last step opened (the shell calls this)."""
        if self.last_case is None or self.last_case.number is not None:
            return self
        return replace(self, last_case=replace(self.last_case, number=number))

    def idle(self) -> DialogueState:
        """The idle state, keeping what outlives a request (language, last case, surveys)."""
        return replace(self, stage=Stage.IDLE, tries=0, draft=Draft(), survey_retry=None)

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON data (`from_dict` reads it back)."""
        draft = self.draft
        last = self.last_case
        return {
            "version": STATE_VERSION,
            "stage": self.stage.value,
            "language": self.language,
            "updated_at": _time_out(self.updated_at),
            "tries": self.tries,
            "draft": {
                "item_code": draft.item_code,
                "confidence": draft.confidence,
                "candidates": list(draft.candidates),
                "alternatives": list(draft.alternatives),
                "topic": draft.topic,
                "area_id": draft.area_id,
                "area_options": list(draft.area_options),
                "suggested_area_id": draft.suggested_area_id,
                "description": list(draft.description),
                "name": draft.name,
                "for_proxy": draft.for_proxy,
            },
            "last_case": None
            if last is None
            else {
                "number": last.number,
                "item_code": last.item_code,
                "alternatives": list(last.alternatives),
                "opened_at": _time_out(last.opened_at),
                "urgent": last.urgent,
                "area_id": last.area_id,
                "correctable": last.correctable,
            },
            "survey_retry": self.survey_retry,
            "dropped_surveys": list(self.dropped_surveys),
            "opted_out_hint_at": _time_out(self.opted_out_hint_at),
            "urgent_at": _time_out(self.urgent_at),
        }

    @classmethod
    def from_dict(cls, data: object) -> DialogueState:
        """Read a stored state; anything that does not read cleanly gives the idle state.

        Unknown keys are ignored and missing ones take their defaults, so that a state written
        by a slightly older or newer version still reads; another ``version`` gives idle.
        """
        if not isinstance(data, Mapping) or data.get("version", STATE_VERSION) != STATE_VERSION:
            return cls()
        try:
            return _read_state(data)
        except (TypeError, ValueError, OverflowError):
            return cls()


class _Unreadable(ValueError):
    """A stored value of the wrong type or outside its range."""


def _read_state(data: Mapping[str, Any]) -> DialogueState:
    empty: Mapping[str, Any] = {}
    no_texts: tuple[str, ...] = ()
    draft_data = _get(data, "draft", _mapping, empty)
    last_data = _get(data, "last_case", _optional(_mapping), None)
    language = _get(data, "language", _optional(_text), None)
    draft = Draft(
        item_code=_get(draft_data, "item_code", _optional(_text), None),
        confidence=_get(draft_data, "confidence", _probability, 0.0),
        candidates=_get(draft_data, "candidates", _texts, ()),
        alternatives=_get(draft_data, "alternatives", _texts, ()),
        topic=_get(draft_data, "topic", _optional(_text), None),
        area_id=_get(draft_data, "area_id", _optional(_integer), None),
        area_options=_get(draft_data, "area_options", _integers, ()),
        suggested_area_id=_get(draft_data, "suggested_area_id", _optional(_integer), None),
        description=_get(draft_data, "description", _texts, no_texts)[-MAX_DESCRIPTION_TURNS:],
        name=_get(draft_data, "name", _optional(_text), None),
        for_proxy=_get(draft_data, "for_proxy", _boolean, False),
    )
    last_case = None
    if last_data is not None:
        last_case = LastCase(
            number=_get(last_data, "number", _optional(_text), None),
            item_code=_text(last_data.get("item_code")),
            alternatives=_get(last_data, "alternatives", _texts, ()),
            opened_at=_time(last_data.get("opened_at")),
            urgent=_get(last_data, "urgent", _boolean, False),
            area_id=_get(last_data, "area_id", _optional(_integer), None),
            correctable=_get(last_data, "correctable", _boolean, True),
        )
    return DialogueState(
        stage=Stage(_get(data, "stage", _text, Stage.IDLE.value)),
        language=language if language in LANGUAGES else None,
        updated_at=_get(data, "updated_at", _optional(_time), None),
        tries=_get(data, "tries", _integer, 0),
        draft=draft,
        last_case=last_case,
        survey_retry=_get(data, "survey_retry", _optional(_text), None),
        dropped_surveys=_get(data, "dropped_surveys", _texts, no_texts)[-MAX_REMEMBERED_SURVEYS:],
        opted_out_hint_at=_get(data, "opted_out_hint_at", _optional(_time), None),
        urgent_at=_get(data, "urgent_at", _optional(_time), None),
    )


def _get(data: Mapping[str, Any], key: str, read: Callable[[Any], T], default: T) -> T:
    value = data.get(key)
    return default if value is None else read(value)


def _optional(read: Callable[[Any], T]) -> Callable[[Any], T | None]:
    return lambda value: None if value is None else read(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Unreadable("expected a mapping")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 10_000:
        raise _Unreadable("expected a string")
    return value


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _Unreadable("expected a list")
    return tuple(_text(item) for item in value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**53:
        raise _Unreadable("expected an integer")
    return value


def _integers(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list | tuple):
        raise _Unreadable("expected a list")
    return tuple(_integer(item) for item in value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Unreadable("expected a boolean")
    return value


def _probability(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unreadable("expected a number")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise _Unreadable("expected a number between 0 and 1")
    return number


def _time(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(_text(value))
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _Unreadable("expected an aware datetime")
    return moment


def _time_out(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
