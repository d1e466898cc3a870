"""Red-light breaches and late 签收: SMS to the unit's head and leader, escalation, accountability.

红绿灯 (Gong county): a case that goes red sends one SMS to the head of the handling unit and one
to its supervising county leader, is escalated one level up, and leaves an accountability entry.
A dispatch not signed for (签收) by the end of the next working day sends one SMS to the unit's
head and leaves an entry of kind "unsigned".

The deadline sweep (`worker.sweeps`) finds the cases, set-based, and hands their ids to these
jobs in chunks. Each case is handled in its own transaction with its row locked, so two runs of
the same chunk serialise, and each job is idempotent:

- a breach is keyed by the case's red "warn" event (the sweep writes one each time a case turns
  red; a deadline moved by an extension and missed again is a new breach);
- an unsigned alert is keyed by the dispatch time, so a case dispatched again is alerted again;
- the SMS rows carry that event's id, so the unique (event_id, contact_id) constraint makes a
  second insert a no-op; messages still queued from an earlier run are queued for delivery again.

Deliveries are enqueued only after the commit. The supervising leader is the unit's own
`leader_*`; a unit without one (a town office) falls back to the leader of the unit's area (the
town's 党委书记), who supervises it. Logs carry ids and unit codes, never numbers or bodies.
"""

from __future__ import annotations

import datetime as dt
import logging
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.clock import Clock
from cases.db import insert_for, session_scope
from cases.exceptions import NotFoundError, RoutingError, TransitionError
from cases.lifecycle import CLOCK_RUNNING, SYSTEM, ActionContext, perform
from cases.models import AccountabilityEntry, Area, Case, CaseEvent, Contact, Department, Message
from cases.models.cases import CaseStatus, WarningLevel
from cases.models.directory import AreaLevel
from cases.models.messaging import AddressKind, MessageStatus
from cases.service import escalate_case
from intents import DATA_DIR
from intents.catalog import Text, catalog
from intents.yamlio import load_yaml
from worker import runtime
from worker.delivery import enqueue_delivery
from worker.outbox import insert_outbound_once

log = logging.getLogger(__name__)

BREACH_JOB = "worker.breach.handle_breaches"
UNSIGNED_JOB = "worker.breach.handle_unsigned"
STAFF_TEXTS_PATH = DATA_DIR / "staff_texts.yml"

# 签收: a dispatched case must be signed for by the end of this many working days after the day
# of dispatch (1: the end of the next working day).
SIGN_WITHIN_WORKING_DAYS = 1


@dataclass(frozen=True)
class AlertResult:
    """What one breach or unsigned job did with its chunk of cases."""

    alerted: int = 0  # new breaches (or late dispatches) recorded
    already: int = 0  # recorded by an earlier run: nothing new, queued SMS re-enqueued
    skipped: int = 0  # no longer red / signed meanwhile, or no unit to answer for it
    messages: int = 0  # SMS rows created
    escalated: int = 0


@dataclass(frozen=True)
class _Recipient:
    role: str  # "head" or "leader"
    name: str
    phone: str


@dataclass
class _Outcome:
    kind: str  # "alerted", "already" or "skipped"
    message_ids: list[int] = field(default_factory=list)
    new_messages: int = 0
    escalated: bool = False


# ---------------------------------------------------------------------------------------------
# Jobs


def handle_breaches(case_ids: list[int], now: dt.datetime | None = None) -> AlertResult:
    """Alert, escalate and record each red case of the chunk that is not yet recorded.

    Args:
        case_ids: cases the sweep found red (or found red and not yet recorded).
        now: the time of the alert; the current time when None (as queued by the sweep).
    """
    clock = runtime.current().clock
    moment = now or dt.datetime.now(dt.UTC)
    return _run(case_ids, lambda session, case_id: _record_breach(session, clock, case_id, moment))


def handle_unsigned(case_ids: list[int], now: dt.datetime | None = None) -> AlertResult:
    """Alert the unit's head once per dispatch not signed for in time.

    Args:
        case_ids: dispatched cases the sweep found past their signing deadline.
        now: the time of the alert; the current time when None.
    """
    clock = runtime.current().clock
    moment = now or dt.datetime.now(dt.UTC)
    return _run(
        case_ids, lambda session, case_id: _record_unsigned(session, clock, case_id, moment)
    )


def _run(case_ids: list[int], record: Callable[[Session, int], _Outcome]) -> AlertResult:
    """One transaction per case, deliveries queued after each commit."""
    services = runtime.current()
    counts = {"alerted": 0, "already": 0, "skipped": 0}
    messages = escalated = 0
    for case_id in case_ids:
        with session_scope(services.sessions) as session:
            outcome = record(session, int(case_id))
        for message_id in outcome.message_ids:
            enqueue_delivery(services.redis, message_id)
        counts[outcome.kind] += 1
        messages += outcome.new_messages
        escalated += outcome.escalated
    return AlertResult(messages=messages, escalated=escalated, **counts)


# ---------------------------------------------------------------------------------------------
# Red-light breach


def _record_breach(session: Session, clock: Clock, case_id: int, now: dt.datetime) -> _Outcome:
    case = session.get(Case, case_id, with_for_update=True)
    if (
        case is None
        or case.warning_level is not WarningLevel.RED
        or case.status not in CLOCK_RUNNING
        or case.paused_at is not None
        or case.due_at is None
    ):
        return _Outcome("skipped")
    event = _red_event(session, case, clock, now)
    if _recorded(session, case.id, "breach", "event_id", event.id):
        return _Outcome("already", _still_queued(session, event.id))
    unit = session.get(Department, case.department_id) if case.department_id else None
    if unit is None:
        log.warning("red case has no unit to answer for it", extra={"case_id": case.id})
        return _Outcome("skipped")

    hours = max(int((now - case.due_at).total_seconds() // 3600), 0)
    recipients = breach_recipients(session, unit)
    message_ids = [
        message_id
        for person in recipients
        if (message_id := _queue_alert(session, clock, case, unit, person, event.id, now, hours))
    ]
    escalated_to, not_escalated = _escalate(session, case, clock, now, event.id)
    session.add(
        AccountabilityEntry(
            case_id=case.id,
            department_id=unit.id,
            kind="breach",
            person_name=unit.head_name[:32],
            note=f"工单{case.number}红灯超期{hours}小时",
            at=now,
            data={
                "event_id": event.id,
                "level": WarningLevel.RED.value,
                "hours_overdue": hours,
                "due_at": case.due_at.astimezone(dt.UTC).isoformat(),
                "notified": [person.role for person in recipients],
                "escalated_to": escalated_to,
                "not_escalated": not_escalated,
            },
        )
    )
    log.info(
        "breach recorded",
        extra={
            "case_id": case.id,
            "unit": unit.code,
            "messages": len(message_ids),
            "escalated": escalated_to is not None,
        },
    )
    return _Outcome("alerted", message_ids, len(message_ids), escalated_to is not None)


def _red_event(session: Session, case: Case, clock: Clock, now: dt.datetime) -> CaseEvent:
    """The event of the case's latest turn to red; written now if the sweep did not write one."""
    warnings = session.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.action == "warn")
        .order_by(CaseEvent.id.desc())
    )
    for event in warnings:
        if event.data.get("level") == WarningLevel.RED.value:
            return event
    context = ActionContext(now, clock, {"level": WarningLevel.RED.value})
    event = perform(case, "warn", SYSTEM, context)
    session.add(event)
    session.flush()
    return event


def breach_recipients(session: Session, unit: Department) -> list[_Recipient]:
    """The unit's head and its supervising leader, each once, those without a phone left out."""
    leader_name, leader_phone = unit.leader_name, unit.leader_phone
    if not leader_phone:
        area = session.get(Area, unit.area_id)
        if area is not None:
            leader_name, leader_phone = area.leader_name, area.leader_phone
    people = [
        _Recipient("head", unit.head_name, unit.head_phone),
        _Recipient("leader", leader_name, leader_phone),
    ]
    chosen: list[_Recipient] = []
    for person in people:
        if not person.phone:
            log.warning("no phone for an alert", extra={"unit": unit.code, "role": person.role})
        elif all(other.phone != person.phone for other in chosen):
            chosen.append(person)
    return chosen


def _escalate(
    session: Session, case: Case, clock: Clock, now: dt.datetime, event_id: int
) -> tuple[str | None, str | None]:
    """上报 one level up; (target unit code, None), or (None, why not) at the top or mid-way."""
    context = ActionContext(now, clock, {"reason": "breach", "event_id": event_id})
    try:
        event = escalate_case(session, case, SYSTEM, context, note="红灯超期，自动上报")
    except (RoutingError, TransitionError, NotFoundError) as exc:
        return None, str(exc)
    return str(event.data["to_unit"]), None


# ---------------------------------------------------------------------------------------------
# Late 签收


def sign_deadline(dispatched_at: dt.datetime, clock: Clock) -> dt.datetime:
    """When a dispatch must have been signed for: end of office on the next working day."""
    day = dispatched_at.astimezone(clock.hours.zone).date()
    return clock.hours.closing(clock.calendar.add_working_days(day, SIGN_WITHIN_WORKING_DAYS))


def unsigned_cutoff(now: dt.datetime, clock: Clock) -> dt.datetime:
    """Every dispatch before the returned instant is past its signing deadline at `now`.

    The deadline depends only on the local day of dispatch and never falls as the day grows,
    so one instant splits late dispatches from the others (a set-based query needs no more).
    """
    zone = clock.hours.zone
    day = now.astimezone(zone).date()
    while sign_deadline(dt.datetime.combine(day, dt.time(), zone), clock) >= now:
        day -= dt.timedelta(days=1)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)


def _record_unsigned(session: Session, clock: Clock, case_id: int, now: dt.datetime) -> _Outcome:
    case = session.get(Case, case_id, with_for_update=True)
    if (
        case is None
        or case.status is not CaseStatus.DISPATCHED
        or case.signed_at is not None
        or case.dispatched_at is None
        or now <= sign_deadline(case.dispatched_at, clock)
    ):
        return _Outcome("skipped")
    dispatched = case.dispatched_at.astimezone(dt.UTC).isoformat()
    earlier = _recorded(session, case.id, "unsigned", "dispatched_at", dispatched)
    if earlier is not None:
        return _Outcome("already", _still_queued(session, int(earlier.data["event_id"])))
    unit = session.get(Department, case.department_id) if case.department_id else None
    if unit is None:
        log.warning("dispatched case has no unit", extra={"case_id": case.id})
        return _Outcome("skipped")

    # 催办: the alert is an event on the case, and the SMS hangs off it.
    context = ActionContext(now, clock, {"reason": "unsigned", "dispatched_at": dispatched})
    event = perform(case, "remind", SYSTEM, context)
    session.add(event)
    session.flush()
    head = _Recipient("head", unit.head_name, unit.head_phone)
    message_id = (
        _queue_alert(session, clock, case, unit, head, event.id, now) if head.phone else None
    )
    if not head.phone:
        log.warning("no phone for an alert", extra={"unit": unit.code, "role": head.role})
    message_ids = [message_id] if message_id else []
    session.add(
        AccountabilityEntry(
            case_id=case.id,
            department_id=unit.id,
            kind="unsigned",
            person_name=unit.head_name[:32],
            note=f"工单{case.number}交办后未按时签收",
            at=now,
            data={"event_id": event.id, "dispatched_at": dispatched},
        )
    )
    log.info(
        "late dispatch recorded",
        extra={"case_id": case.id, "unit": unit.code, "messages": len(message_ids)},
    )
    return _Outcome("alerted", message_ids, len(message_ids))


# ---------------------------------------------------------------------------------------------
# Shared: records, contacts, messages, texts


def _recorded(
    session: Session, case_id: int, kind: str, key: str, value: object
) -> AccountabilityEntry | None:
    """The case's entry of `kind` whose data[key] is `value`, if one was written."""
    entries = session.scalars(
        select(AccountabilityEntry).where(
            AccountabilityEntry.case_id == case_id, AccountabilityEntry.kind == kind
        )
    )
    return next((entry for entry in entries if entry.data.get(key) == value), None)


def _still_queued(session: Session, event_id: int) -> list[int]:
    """Messages of an earlier run still waiting: their delivery may never have been queued."""
    return list(
        session.scalars(
            select(Message.id).where(
                Message.event_id == event_id, Message.status == MessageStatus.QUEUED
            )
        )
    )


def _queue_alert(
    session: Session,
    clock: Clock,
    case: Case,
    unit: Department,
    person: _Recipient,
    event_id: int,
    now: dt.datetime,
    hours: int | None = None,
) -> int | None:
    """Queue the breach SMS (when `hours` is given) or the late-签收 SMS to one person."""
    contact = staff_contact(session, person.phone, person.name, now)
    language = contact.language
    values: dict[str, object] = {
        "number": case.number,
        "detail": case_detail(session, case, language),
        "unit": unit.name_en if language == "en" and unit.name_en else unit.name,
    }
    if hours is not None:
        text = "breach"
        values["overdue"] = (
            staff_text("overdue_hours", language, hours=hours)
            if hours
            else staff_text("overdue_under_hour", language)
        )
    else:
        assert case.dispatched_at is not None
        text = "unsigned"
        values["dispatched"] = format_moment(case.dispatched_at, clock.hours.zone, language)
    body = staff_text(text, language, **values)
    return queue_staff_sms(session, contact.id, body, now, case_id=case.id, event_id=event_id)


def staff_contact(session: Session, phone: str, name: str, now: dt.datetime) -> Contact:
    """The phone contact of a staff member, created on first use (safe against a racing job)."""
    insert = insert_for(session)
    session.execute(
        insert(Contact)
        .values(
            kind=AddressKind.PHONE.value,
            address=phone,
            phone=phone,
            name=name[:64],
            language="zh",
            opted_out=False,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Contact.kind, Contact.address])
    )
    return session.scalars(
        select(Contact).where(Contact.kind == AddressKind.PHONE, Contact.address == phone)
    ).one()


def queue_staff_sms(
    session: Session,
    contact_id: int,
    body: str,
    now: dt.datetime,
    *,
    case_id: int | None = None,
    event_id: int | None = None,
) -> int | None:
    """Store an outbound SMS as queued; None when this event already messaged this contact."""
    return insert_outbound_once(
        session, contact_id=contact_id, body=body, now=now, case_id=case_id, event_id=event_id
    )


def case_detail(session: Session, case: Case, language: str) -> str:
    """The matter (catalog item name) and the village it is in, for a staff SMS."""
    try:
        item = catalog().item(case.item_code)
        matter = item.en if language == "en" else item.zh
    except KeyError:
        matter = case.summary[:20]
    place = _place_name(session, case.area_id, language)
    return staff_text("detail", language, matter=matter, place=place) if place else matter


def _place_name(session: Session, area_id: int | None, language: str) -> str:
    """The case's village (or, failing that, town) as residents name it."""
    area = session.get(Area, area_id) if area_id is not None else None
    if area is None:
        return ""
    ids = [int(part) for part in area.path.strip("/").split("/") if part] or [area.id]
    chain = {a.level: a for a in session.scalars(select(Area).where(Area.id.in_(ids)))}
    chosen = chain.get(AreaLevel.VILLAGE) or chain.get(AreaLevel.TOWN)
    if chosen is None:
        return ""
    return chosen.name_en if language == "en" and chosen.name_en else chosen.name


def format_moment(moment: dt.datetime, zone: ZoneInfo, language: str, key: str = "moment") -> str:
    """A local date ("day") or date and time ("moment") in the recipient's language."""
    local = moment.astimezone(zone)
    return staff_text(
        key,
        language,
        year=local.year,
        month=local.month,
        day=local.day,
        hour=local.hour,
        minute=local.minute,
    )


@cache
def staff_texts(path: Path = STAFF_TEXTS_PATH) -> dict[str, Text]:
    """The SMS texts to staff (`intents/staff_texts.yml`), zh and en for every key."""
    raw = load_yaml(path)
    return {key: Text.model_validate(value) for key, value in raw.items()}


def staff_text(key: str, language: str, **values: object) -> str:
    """One staff text in `language` ("en", else Chinese) with its placeholders filled."""
    return staff_texts()[key].get(language).format(**values)


def placeholders(template: str) -> set[str]:
    """The {names} a text expects (for checking that zh and en agree)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
