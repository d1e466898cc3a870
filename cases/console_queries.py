"""The agent console's read queries: work queues, the filtered case list, a resident's history.

Every query takes the agent's scope condition (`cases.access.case_scope` /
`conversation_scope` / `message_scope`) and applies it in SQL. The case list pages by keyset on
(received_at, id), newest first, so page 500 costs what page 1 costs; totals are counted only
up to `COUNT_CAP` (the list says "1000+" beyond it).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from bot.case_numbers import parse_case_number
from cases.lifecycle import OPEN_STATUSES
from cases.models import Area, Case, CaseEvent, Contact, Conversation, Department, Message
from cases.models.cases import ActorType, CaseStatus, WarningLevel
from cases.models.messaging import Channel, Direction

PAGE_SIZE = 50
COUNT_CAP = 1000
QUEUE_LIMIT = 50
_DIGITS = re.compile(r"[\d\s\-+]{7,}")


@dataclass(frozen=True)
class CaseFilter:
    """What the agent filtered the case list by; every field optional."""

    status: CaseStatus | None = None
    open_only: bool = False
    category: str = ""
    item: str = ""
    area_id: int | None = None
    unit_id: int | None = None
    channel: Channel | None = None
    warning: WarningLevel | None = None
    received_from: dt.datetime | None = None
    received_to: dt.datetime | None = None  # exclusive
    text: str = ""  # a case number, a phone number or words of the summary


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this (received_at, id), going back in time."""

    received_at: dt.datetime
    case_id: int

    def encode(self) -> str:
        """As a URL parameter."""
        micros = int(self.received_at.timestamp() * 1_000_000)
        return f"{micros}.{self.case_id}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """From a URL parameter; None for anything malformed."""
        if not text:
            return None
        micros, _sep, case_id = text.partition(".")
        if not (micros.lstrip("-").isdigit() and case_id.isdigit()):
            return None
        moment = dt.datetime.fromtimestamp(int(micros) / 1_000_000, dt.UTC)
        return cls(moment, int(case_id))


@dataclass(frozen=True)
class CaseRow:
    """One line of a case list: what an agent needs to pick the case."""

    id: int
    number: str
    summary: str
    item_code: str
    category_code: str
    status: CaseStatus
    warning_level: WarningLevel
    channel: Channel
    received_at: dt.datetime
    due_at: dt.datetime | None
    area_name: str
    unit_name: str
    phone: str
    needs_review: bool
    confidence: float | None


@dataclass
class CasePage:
    """A page of the case list."""

    rows: list[CaseRow]
    next_cursor: Cursor | None
    total: int
    capped: bool  # total is COUNT_CAP and there are more


@dataclass
class WorkQueues:
    """The work that needs a person, by kind."""

    review: list[CaseRow] = field(default_factory=list)
    duplicates: list[CaseRow] = field(default_factory=list)
    handoffs: list[HandoffRow] = field(default_factory=list)
    voicemails: list[VoicemailRow] = field(default_factory=list)


@dataclass(frozen=True)
class HandoffRow:
    """A conversation whose resident asked for a person."""

    conversation_id: int
    channel: Channel
    phone: str
    requested_at: dt.datetime
    last_message: str


@dataclass(frozen=True)
class VoicemailRow:
    """A recorded voicemail no case has been opened for yet."""

    message_id: int
    contact_id: int
    phone: str
    received_at: dt.datetime
    body: str
    media: list[Any]


def case_list(
    session: Session,
    scope: ColumnElement[bool],
    filters: CaseFilter,
    *,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> CasePage:
    """A page of the cases in scope that match the filters, newest first."""
    where = and_(scope, *_conditions(session, filters))
    query = _row_query().where(where)
    if after is not None:
        query = query.where(
            or_(
                Case.received_at < after.received_at,
                and_(Case.received_at == after.received_at, Case.id < after.case_id),
            )
        )
    query = query.order_by(Case.received_at.desc(), Case.id.desc()).limit(limit + 1)
    rows = [_row(found) for found in session.execute(query)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = Cursor(rows[-1].received_at, rows[-1].id)
    capped_ids = select(Case.id).where(where).limit(COUNT_CAP + 1).subquery()
    total = int(session.scalar(select(func.count()).select_from(capped_ids)) or 0)
    return CasePage(rows, next_cursor, min(total, COUNT_CAP), total > COUNT_CAP)


def work_queues(
    session: Session,
    scope: ColumnElement[bool],
    conversations: ColumnElement[bool],
    *,
    limit: int = QUEUE_LIMIT,
    messages: ColumnElement[bool] | None = None,
) -> WorkQueues:
    """The four queues of work that needs a person, oldest first, each at most `limit` long.

    `messages` is the agent's `cases.access.message_scope` (for the hand-offs' last message).
    """
    review = (
        _row_query()
        .where(scope, Case.needs_review.is_(True), Case.status.in_(OPEN_STATUSES))
        .order_by(Case.received_at, Case.id)
        .limit(limit)
    )
    # The two kinds of duplicate are disjoint (open vs merged), so each is read on its own
    # index and the oldest `limit` of both are merged here: one OR over both would be
    # planned as a scan of every open case with a subquery per row.
    duplicates = [
        _row(found)
        for kind in _duplicate_kinds()
        for found in session.execute(
            _row_query().where(scope, kind).order_by(Case.received_at, Case.id).limit(limit)
        )
    ]
    duplicates.sort(key=lambda row: (row.received_at, row.id))
    return WorkQueues(
        review=[_row(found) for found in session.execute(review)],
        duplicates=duplicates[:limit],
        handoffs=handoffs(session, conversations, limit=limit, messages=messages),
        voicemails=voicemails(session, conversations, limit=limit),
    )


def possible_duplicate() -> ColumnElement[bool]:
    """Cases an agent must look at as duplicates.

    An open case the bot marked as a likely duplicate (duplicate_of set, not merged yet), or a
    case merged by the bot or the system that no agent has confirmed or undone.
    """
    return or_(*_duplicate_kinds())


def _duplicate_kinds() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The two disjoint conditions of `possible_duplicate`: marked open, merged unconfirmed."""
    decided = exists().where(
        CaseEvent.case_id == Case.id,
        CaseEvent.actor_type == ActorType.AGENT,
        or_(CaseEvent.action == "merge", CaseEvent.from_status == CaseStatus.MERGED),
    )
    return (
        and_(Case.duplicate_of_id.is_not(None), Case.status.in_(OPEN_STATUSES)),
        and_(Case.status == CaseStatus.MERGED, ~decided),
    )


def handoffs(
    session: Session,
    conversations: ColumnElement[bool],
    *,
    limit: int = QUEUE_LIMIT,
    messages: ColumnElement[bool] | None = None,
) -> list[HandoffRow]:
    """Conversations waiting for a person (转人工), the longest-waiting first.

    The last message shown is the last inbound one the agent may read (`messages`).
    """
    last = (
        select(Message.body)
        .where(
            Message.conversation_id == Conversation.id,
            Message.direction == Direction.INBOUND,
            true() if messages is None else messages,
        )
        .order_by(Message.id.desc())
        .limit(1)
        .correlate(Conversation)
        .scalar_subquery()
    )
    query = (
        select(
            Conversation.id,
            Conversation.channel,
            func.coalesce(Contact.phone, ""),
            Conversation.handoff_requested_at,
            last,
        )
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(
            conversations,
            Conversation.handoff_requested_at.is_not(None),
            Conversation.closed_at.is_(None),
        )
        .order_by(Conversation.handoff_requested_at)
        .limit(limit)
    )
    return [
        HandoffRow(conversation_id, channel, phone or "", requested, body or "")
        for conversation_id, channel, phone, requested, body in session.execute(query)
    ]


def voicemails(
    session: Session, conversations: ColumnElement[bool], *, limit: int = QUEUE_LIMIT
) -> list[VoicemailRow]:
    """Voicemails (inbound voice messages with a recording) that no case was opened for."""
    visible = or_(
        Message.conversation_id.is_(None),
        Message.conversation_id.in_(select(Conversation.id).where(conversations)),
    )
    query = (
        select(
            Message.id,
            Message.contact_id,
            func.coalesce(Contact.phone, ""),
            Message.created_at,
            Message.body,
            Message.media,
        )
        .join(Contact, Contact.id == Message.contact_id)
        .where(
            Message.direction == Direction.INBOUND,
            Message.channel == Channel.VOICE,
            Message.case_id.is_(None),
            visible,
        )
        .order_by(Message.id)
        .limit(limit * 4)
    )
    rows = [
        VoicemailRow(message_id, contact_id, phone or "", at, body or "", list(media or []))
        for message_id, contact_id, phone, at, body, media in session.execute(query)
    ]
    return [row for row in rows if row.media][:limit]


def transcript(
    session: Session, case: Case, messages: ColumnElement[bool] | None = None
) -> list[Message]:
    """The messages linked to the case, and those of its conversation the agent may read.

    Args:
        session: the database session.
        case: a case the agent sees.
        messages: the agent's `cases.access.message_scope`; None reads every message (jobs).
    """
    conditions: list[ColumnElement[bool]] = [Message.case_id == case.id]
    if case.conversation_id is not None:
        in_scope = true() if messages is None else messages
        conditions.append(and_(Message.conversation_id == case.conversation_id, in_scope))
    return list(session.scalars(select(Message).where(or_(*conditions)).order_by(Message.id)))


def conversation_messages(
    session: Session, conversation_id: int, messages: ColumnElement[bool] | None = None
) -> list[Message]:
    """The messages of one conversation the agent may read (`message_scope`), in order."""
    query = select(Message).where(Message.conversation_id == conversation_id)
    if messages is not None:
        query = query.where(messages)
    return list(session.scalars(query.order_by(Message.id)))


def related_contacts(session: Session, contact: Contact) -> list[Contact]:
    """The resident's addresses: this contact and every contact with the same phone number."""
    phone = contact.phone or (contact.address if contact.kind.value == "phone" else None)
    if not phone:
        return [contact]
    query = select(Contact).where(or_(Contact.phone == phone, Contact.address == phone))
    found = list(session.scalars(query.order_by(Contact.id)))
    return found if contact in found else [contact, *found]


def resident_cases(
    session: Session, scope: ColumnElement[bool], contact_ids: list[int]
) -> list[CaseRow]:
    """The resident's cases in scope, newest first (户情民意备忘录)."""
    query = (
        _row_query()
        .where(scope, Case.contact_id.in_(contact_ids))
        .order_by(Case.received_at.desc(), Case.id.desc())
        .limit(500)
    )
    return [_row(found) for found in session.execute(query)]


def resident_conversations(
    session: Session, conversations: ColumnElement[bool], contact_ids: list[int]
) -> list[Conversation]:
    """The resident's conversations the agent may read, newest first."""
    query = (
        select(Conversation)
        .where(conversations, Conversation.contact_id.in_(contact_ids))
        .order_by(Conversation.last_message_at.desc())
        .limit(200)
    )
    return list(session.scalars(query))


def find_case(session: Session, text: str) -> Case | None:
    """A case by its number as anyone may type it (prefix, spaces, full-width digits)."""
    number = parse_case_number(text)
    if number is None:
        return None
    return session.scalars(select(Case).where(Case.number == number)).first()


def normalise_phone(text: str) -> str | None:
    """An E.164 number for what an agent typed (13800138000, +86 138…), None if not a phone."""
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _conditions(session: Session, filters: CaseFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.status is not None:
        conditions.append(Case.status == filters.status)
    elif filters.open_only:
        conditions.append(Case.status.in_(OPEN_STATUSES))
    if filters.category:
        conditions.append(Case.category_code == filters.category)
    if filters.item:
        conditions.append(Case.item_code == filters.item)
    if filters.unit_id is not None:
        conditions.append(Case.department_id == filters.unit_id)
    if filters.channel is not None:
        conditions.append(Case.channel == filters.channel)
    if filters.warning is not None:
        conditions.append(Case.warning_level == filters.warning)
    if filters.received_from is not None:
        conditions.append(Case.received_at >= filters.received_from)
    if filters.received_to is not None:
        conditions.append(Case.received_at < filters.received_to)
    if filters.area_id is not None:
        conditions.append(_inside_area(session, filters.area_id))
    if filters.text.strip():
        conditions.append(_search(filters.text.strip()))
    return conditions


def _inside_area(session: Session, area_id: int) -> ColumnElement[bool]:
    area = session.get(Area, area_id)
    if area is None:
        return Case.id.is_(None)
    inside = select(Area.id).where(Area.path.startswith(area.path))
    return or_(Case.area_id.in_(inside), Case.town_id.in_(inside))


def _search(text: str) -> ColumnElement[bool]:
    """A case number, else a phone number, else words of the summary or description."""
    number = parse_case_number(text)
    if number is not None:
        return Case.number == number
    if _DIGITS.fullmatch(text):
        phone = normalise_phone(text)
        if phone is not None:
            contacts = select(Contact.id).where(
                or_(Contact.phone == phone, Contact.address == phone)
            )
            return Case.contact_id.in_(contacts)
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(
        Case.summary.ilike(pattern, escape="\\"), Case.description.ilike(pattern, escape="\\")
    )


def _row_query() -> Select[*tuple[Any, ...]]:
    area = aliased(Area)
    query: Select[*tuple[Any, ...]] = (
        select(
            Case.id,
            Case.number,
            Case.summary,
            Case.item_code,
            Case.category_code,
            Case.status,
            Case.warning_level,
            Case.channel,
            Case.received_at,
            Case.due_at,
            func.coalesce(area.name, ""),
            func.coalesce(Department.name, ""),
            func.coalesce(Contact.phone, ""),
            Case.needs_review,
            Case.confidence,
        )
        .select_from(Case)
        .outerjoin(area, area.id == func.coalesce(Case.area_id, Case.town_id))
        .outerjoin(Department, Department.id == Case.department_id)
        .outerjoin(Contact, Contact.id == Case.contact_id)
    )
    return query


def _row(found: Any) -> CaseRow:
    return CaseRow(*found)


def everything() -> ColumnElement[bool]:
    """A scope that admits every row (for jobs and reports that run without an agent)."""
    return true()
