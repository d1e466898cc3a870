"""Effects: what a dialogue step asks the shell to do, as plain frozen values.

`bot.dialogue.step` never acts; it returns a list of these and the shell carries them out, in
order, in one database transaction (rasa-sdk's events, in our words). Each effect names itself
with `kind`, a stable string the shell dispatches on and logs.

Replies are not text but a key into ``intents/replies.yml`` with parameters; the shell renders
them with `bot.texts.render`. A reply about a case the same step opens or reclassifies cannot
know the case number or the deadline yet: it carries ``after="open_case"`` (or
``"reclassify_case"``, ``"set_case_place"``), and the shell fills its ``case_number`` and
``due`` parameters from the result of the nearest preceding effect of that kind
(`bot.texts.fill_case`) before rendering.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeAlias

# What a reply parameter may hold: text, a number (for format specs such as {days}), another
# reply rendered in place (a date, a time limit), or several replies rendered one per line.
ParamValue: TypeAlias = "str | int | Reply | tuple[Reply, ...]"

AFTER_OPEN_CASE = "open_case"
AFTER_RECLASSIFY_CASE = "reclassify_case"
AFTER_SET_CASE_PLACE = "set_case_place"
# The parameters the shell adds to a reply that has `after` set.
CASE_PARAMS = ("case_number", "due")


class HandOffReason(enum.StrEnum):
    """Why the bot passes a conversation to a person (values of `HandOff.reason`)."""

    REQUESTED = "requested"  # the resident asked for a person
    UNCLEAR = "unclear"  # two failed attempts to understand the request
    MISCLASSIFIED = "misclassified"  # a correction the bot could not carry out itself
    URGENT_FOLLOW_UP = "urgent_follow_up"  # more news about an emergency just reported


@dataclass(frozen=True)
class Reply:
    """A message to the resident: a text key, its parameters and the language to render in.

    Attributes:
        text_key: a key of ``intents/replies.yml``.
        params: values for the text's placeholders (see `ParamValue`).
        language: "zh" or "en".
        after: None, or the kind of effect ("open_case", "reclassify_case") whose result fills
            the ``case_number`` and ``due`` parameters; the shell fills them before rendering.
    """

    kind: ClassVar[str] = "reply"
    text_key: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    language: str = "zh"
    after: str | None = None

    def __hash__(self) -> int:
        return hash((self.text_key, tuple(sorted(self.params.items())), self.language, self.after))

    def to_dict(self) -> dict[str, Any]:
        """The reply as JSON-ready data, nested replies included."""
        return {
            "kind": self.kind,
            "text_key": self.text_key,
            "params": {name: _plain(value) for name, value in self.params.items()},
            "language": self.language,
            "after": self.after,
        }


@dataclass(frozen=True)
class OpenCase:
    """Open a case (the shell calls `cases.service.open_case`).

    Attributes:
        item_code: the catalog item.
        description: the resident's own words, every turn of the request joined by newlines.
        area_id: where (village or grid, sometimes only a town); None when not known.
        confidence: the classifier's confidence, 1.0 when the resident chose or confirmed it.
        urgent: danger to life or property: the urgent time limit applies.
        name: the resident's name when they gave it for this request.
        for_proxy_agent: a proxy service (便民代办): assign the village's proxy agent.
    """

    kind: ClassVar[str] = "open_case"
    item_code: str
    description: str
    area_id: int | None
    confidence: float
    urgent: bool = False
    name: str | None = None
    for_proxy_agent: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The effect as JSON-ready data."""
        return _as_dict(self)


@dataclass(frozen=True)
class ReclassifyCase:
    """Change the item of a case the bot has just opened (the resident's correction)."""

    kind: ClassVar[str] = "reclassify_case"
    number: str
    item_code: str

    def to_dict(self) -> dict[str, Any]:
        """The effect as JSON-ready data."""
        return _as_dict(self)


@dataclass(frozen=True)
class SetCasePlace:
    """Give the place to a case the bot has just opened without it (or with a vaguer one).

    The resident's own case `number` gets `area_id` (and its town); the shell routes it again
    to that place's unit while nobody has started on it, and notes the place in its history.
    """

    kind: ClassVar[str] = "set_case_place"
    number: str
    area_id: int

    def to_dict(self) -> dict[str, Any]:
        """The effect as JSON-ready data."""
        return _as_dict(self)


@dataclass(frozen=True)
class RecordRating:
    """Record a survey answer (回访) on the national 好差评 scale.

    `score` is 1 非常满意, 2 满意, 3 基本满意, 4 不满意, 5 非常不满意; 4 and 5 reopen the case.
    """

    kind: ClassVar[str] = "record_rating"
    number: str
    score: int

    def to_dict(self) -> dict[str, Any]:
        """The effect as JSON-ready data."""
        return _as_dict(self)


@dataclass(frozen=True)
class HandOff:
    """Put the conversation in front of a person (see `HandOffReason`)."""

    kind: ClassVar[str] = "hand_off"
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The effect as JSON-ready data."""
        return _as_dict(self)


@dataclass(frozen=True)
class OptOut:
    """The resident's address opts out of every message (退订)."""

    kind: ClassVar[str] = "opt_out"

    def to_dict(self) -> dict[str, Any]:
        """The effect as JSON-ready data."""
        return _as_dict(self)


@dataclass(frozen=True)
class OptIn:
    """The resident's address opts back in."""

    kind: ClassVar[str] = "opt_in"

    def to_dict(self) -> dict[str, Any]:
        """The effect as JSON-ready data."""
        return _as_dict(self)


@dataclass(frozen=True)
class UpdateContact:
    """Remember what the resident told us about themself; None leaves a field as it is."""

    kind: ClassVar[str] = "update_contact"
    name: str | None = None
    area_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The effect as JSON-ready data."""
        return _as_dict(self)


Effect: TypeAlias = (
    Reply
    | OpenCase
    | ReclassifyCase
    | RecordRating
    | HandOff
    | OptOut
    | OptIn
    | UpdateContact
    | SetCasePlace
)
EFFECT_KINDS = tuple(
    kind.kind
    for kind in (
        Reply,
        OpenCase,
        ReclassifyCase,
        RecordRating,
        HandOff,
        OptOut,
        OptIn,
        UpdateContact,
        SetCasePlace,
    )
)


def _as_dict(effect: Effect) -> dict[str, Any]:
    return {"kind": effect.kind} | {f.name: getattr(effect, f.name) for f in fields(effect)}


def _plain(value: ParamValue) -> Any:
    if isinstance(value, Reply):
        return value.to_dict()
    if isinstance(value, tuple):
        return [item.to_dict() for item in value]
    return value
