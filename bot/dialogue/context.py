"""What a dialogue step is given besides its state: the message and what the shell knows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.gazetteer import AreaGazetteer
from intents.catalog import Catalog

ChannelName = Literal["sms", "whatsapp", "voice", "wechat", "web"]
CHANNELS: tuple[ChannelName, ...] = ("sms", "whatsapp", "voice", "wechat", "web")


@dataclass(frozen=True)
class Inbound:
    """One message from a resident.

    Attributes:
        text: the message as received (raw; the dialogue normalises it itself).
        channel: sms | whatsapp | voice | wechat | web.
        parse: the NLU's answer in Rasa's ``/model/parse`` shape (``intent`` with ``name`` and
            ``confidence``, ``intent_ranking``, ``entities``), computed by the shell; an empty
            mapping when no NLU was available. Malformed parts are ignored.
    """

    text: str
    channel: str = "sms"
    parse: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseSummary:
    """One case as the resident may see it, loaded by the shell.

    Attributes:
        number: the case number, digits only.
        item_code: the catalog item.
        status: the lifecycle status (new, accepted, … closed).
        status_zh: the status as residents read it in Chinese (已受理, 办理中, …).
        status_en: the same in English.
        due: the deadline, if the case has one.
        last_event: the text of the last event visible to the resident, if any.
        can_rate: the case awaits the resident's survey answer.
        mine: the case is this resident's own (else someone else's, asked about by number).
        merged_into: for a merged case, the number of the case it lives on in (the end of the
            chain of merges).
    """

    number: str
    item_code: str
    status: str
    status_zh: str
    status_en: str
    due: dt.datetime | None = None
    last_event: str | None = None
    can_rate: bool = False
    mine: bool = True
    merged_into: str | None = None


@dataclass(frozen=True)
class Context:
    """Everything a step may consult besides its state and the message; loaded by the shell.

    Attributes:
        now: the current moment, time-zone aware (the county's zone).
        catalog: the service catalog.
        gazetteer: the county's towns, villages and grids.
        language: the language to answer in until the resident's own writing says otherwise.
        contact_name: the resident's name, if known.
        area_id: the resident's village (or grid, or town), if known.
        opted_out: the resident's address has opted out (退订).
        cases: the resident's recent cases, newest first, plus every case whose number the
            message mentions (`bot.case_numbers.find_case_numbers` on the text).
        pending_survey: the number of a case whose survey question awaits an answer.
        office_hours_open: whether staff are at work now (for the hand-off message).
        next_office_opening: when staff are next at work, if they are not now.
    """

    now: dt.datetime
    catalog: Catalog
    gazetteer: AreaGazetteer
    language: str = "zh"
    contact_name: str | None = None
    area_id: int | None = None
    opted_out: bool = False
    cases: tuple[CaseSummary, ...] = ()
    pending_survey: str | None = None
    office_hours_open: bool = True
    next_office_opening: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("Context.now must be time-zone aware")

    def case(self, number: str) -> CaseSummary | None:
        """The case with this number, if the shell loaded it."""
        return next((case for case in self.cases if case.number == number), None)
