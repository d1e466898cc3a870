"""Resident notifications: every resident-visible case event, told once to each resident.

A case event the resident may see (受理, 交办, 签收, 补办, 上报, 延期, 办结 with its result, 重办,
不予受理 with its reason, 合并 with the surviving number, an agent's message) becomes one
message per recipient, on the resident's channel, in the resident's language
(`intents/replies.yml`, keys ``notify_*``). Recipients are the case's contact and the contacts
of cases merged into it (they follow the surviving case). The resident whose own message caused
the event (a rating that reopens the case) is not told again: the bot has already answered.
Nor are the bot's own acts (受理 of a case it opened, a correction): its receipt said so, and a
second message saying 已受理 right after it only costs the resident an SMS.

How it is triggered, reliably, and in bulk:

- session hooks collect visible `CaseEvent` rows on flush and, after the commit, queue one
  `notify_events(event_ids)` job per `NOTIFY_BATCH` events of the transaction (a rollback
  queues nothing): a console action queues one job, a sweep that touched 5,000 cases 50;
- the job stores the messages of all its events in one transaction, then delivers its own
  new `queued` rows in the same process through `worker.delivery.deliver_batch` (no delivery
  job per message: a burst goes out while it is processed, not after every notify job ran);
- `catch_up` (periodic) finds visible events of the last days that have no message at all —
  their job was lost because Redis was down at the commit — and notifies them the same way,
  `NOTIFY_BATCH` at a time.

Exactly once: each message row is inserted with ``ON CONFLICT DO NOTHING`` against the unique
``(event_id, contact_id, purpose)``, so a job run twice, or the job and the catch-up together,
store one message; the delivery's claim (queued → sending) sends each row once. A job that dies
after its commit leaves its rows `queued`: the recovery sweep hands them on a minute later.

Quiet hours (22:00–07:00 local, `ZHITONG_QUIET_HOURS_START/END`): a notification that is not
urgent is stored ``held`` and `release_held` (periodic) turns it ``queued`` in the morning and
queues `deliver_batch` jobs of `worker.delivery.BATCH_SIZE` for the workers to share. Urgent
cases and answers to the resident's own action are never held; web chat messages are never held
(nothing rings: the chat page fetches them). An opted-out resident's row is stored
``suppressed`` and never sent. Web chat notifications stay ``queued`` on the web channel for the
chat page to fetch; they are never delivered by a job.

The resolve event also carries the 好差评 survey to the case's own contact (purpose
``survey``), and a dissatisfied rating alerts the unit's supervising leader (`worker.surveys`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import event, exists, select, update
from sqlalchemy.orm import Session

from bot.case_numbers import display_case_number
from bot.effects import ParamValue, Reply
from bot.texts import fits_sms, moment_reply, render, texts
from cases.db import session_scope
from cases.duplicates import merged_into
from cases.models import Case, CaseEvent, Contact, Conversation, Department, Message
from cases.models.cases import ActorType
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.settings import Settings
from cases.status_texts import department_name, item_name, unit_name
from worker import runtime
from worker.delivery import deliver_batch, enqueue_deliveries
from worker.outbox import insert_outbound_once
from worker.queue import enqueue

log = logging.getLogger(__name__)

NOTIFY_JOB = "worker.notify.notify_events"
# Jobs queued before batching (one event each) still run.
SINGLE_JOB = "worker.notify.notify_event"
CATCH_UP_JOB = "worker.notify.catch_up"
RELEASE_JOB = "worker.notify.release_held"
_KEY = "zhitong_notify_events"

# Purposes of an event's messages to one contact (`Message.purpose`).
NOTICE, SURVEY, REMINDER = "", "survey", "reminder"

# The catch-up looks this far back, and leaves the newest events to their own jobs.
CATCH_UP_DAYS = 7
CATCH_UP_GRACE = dt.timedelta(minutes=2)
CATCH_UP_LIMIT = 500
RELEASE_BATCH = 1000
# Events per notify job (and per catch-up transaction).
NOTIFY_BATCH = 100
# An agent's own message to a resident is sent whole up to this length (longer is cut).
MAX_MESSAGE_CHARS = 500

# Channels a case comes in on that cannot carry a written answer: the resident hears by SMS.
_NOT_WRITTEN = frozenset({Channel.VOICE, Channel.WALK_IN, Channel.PATROL, Channel.API})
_CHANNEL_OF_ADDRESS = {
    AddressKind.PHONE: Channel.SMS,
    AddressKind.WHATSAPP: Channel.WHATSAPP,
    AddressKind.WECHAT: Channel.WECHAT,
    AddressKind.WEB: Channel.WEB,
}
# The text of each visible action; any other visible event (a shared note) uses its note.
TEXT_OF_ACTION = {
    "accept": "notify_accepted",
    "reject": "notify_rejected",
    "dispatch": "notify_dispatched",
    "sign": "notify_signed",
    "request_materials": "notify_materials_needed",
    "receive_materials": "notify_materials_received",
    "escalate": "notify_escalated",
    "approve_extension": "notify_extended",
    "resolve": "notify_resolved",
    "reopen": "notify_reopened",
    "merge": "notify_merged",
    "message": "notify_message",
}


@dataclass(frozen=True)
class NotifyResult:
    """What one notification run stored."""

    messages: int = 0  # new rows (any status)
    held: int = 0
    suppressed: int = 0
    queued_ids: list[int] = field(default_factory=list)  # to deliver after the commit
    sent: int = 0  # of those, sent by this run


# ---------------------------------------------------------------------------------------------
# Session hooks: visible events committed → notify_event jobs


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context: Any) -> None:
    for obj in session.new:
        if isinstance(obj, CaseEvent) and obj.visible_to_resident and obj.id is not None:
            session.info.setdefault(_KEY, set()).add(obj.id)


@event.listens_for(Session, "after_commit")
def _enqueue(session: Session) -> None:
    ids = sorted(session.info.pop(_KEY, set()))
    services = runtime.installed()
    if not ids or services is None:
        return
    for start in range(0, len(ids), NOTIFY_BATCH):
        chunk = ids[start : start + NOTIFY_BATCH]
        try:
            enqueue_notifications(services.redis, chunk)
        except RedisError:
            log.warning("queue unreachable; catch-up will notify", extra={"events": len(chunk)})


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_KEY, None)


def enqueue_notification(connection: Any, event_id: int) -> None:
    """Queue the notification of one committed event (safe to call twice)."""
    enqueue_notifications(connection, [event_id])


def enqueue_notifications(connection: Any, event_ids: list[int]) -> None:
    """Queue one `notify_events` job for committed events (at most `NOTIFY_BATCH`).

    The job id names the first event and the count; a second job for the same events stores
    nothing new (the unique key) and sends nothing twice (the claim).
    """
    ids = sorted(event_ids)
    enqueue(connection, NOTIFY_JOB, ids, job_id=f"notify-{ids[0]}-{len(ids)}")


# ---------------------------------------------------------------------------------------------
# Jobs


def notify_events(event_ids: list[int], now: dt.datetime | None = None) -> NotifyResult:
    """Store the messages of visible events (once per recipient) in one transaction, then
    deliver the new `queued` ones in this process (`worker.delivery.deliver_batch`).

    Args:
        event_ids: `CaseEvent` ids; invisible or missing events store nothing.
        now: the time of the run (quiet hours are judged by it); the current time when None.
    """
    services = runtime.current()
    moment = now or dt.datetime.now(dt.UTC)
    results = []
    with session_scope(services.sessions) as session:
        for event_id in sorted(set(event_ids)):
            results.append(notify_in(session, services.settings, event_id, moment))
    queued = [message_id for result in results for message_id in result.queued_ids]
    sent = deliver_batch(queued)["sent"] if queued else 0
    return NotifyResult(
        messages=sum(result.messages for result in results),
        held=sum(result.held for result in results),
        suppressed=sum(result.suppressed for result in results),
        queued_ids=queued,
        sent=sent,
    )


def notify_event(event_id: int, now: dt.datetime | None = None) -> NotifyResult:
    """`notify_events` for one event (the job queued before notifications were batched)."""
    return notify_events([event_id], now)


def catch_up(now: dt.datetime | None = None, days: int = CATCH_UP_DAYS) -> int:
    """Notify visible events of the last `days` that have no message yet; returns how many.

    One query finds them (no loop over cases), at most `CATCH_UP_LIMIT` per run; they are
    notified `NOTIFY_BATCH` at a time, as a notify job does. Events caused by the resident are
    left out: they may rightly have no message (the bot answered the resident directly).
    """
    services = runtime.current()
    moment = now or dt.datetime.now(dt.UTC)
    with session_scope(services.sessions) as session:
        event_ids = list(session.scalars(unnotified_events(moment, days).limit(CATCH_UP_LIMIT)))
    for start in range(0, len(event_ids), NOTIFY_BATCH):
        notify_events(event_ids[start : start + NOTIFY_BATCH], moment)
    if event_ids:
        log.info("notifications caught up", extra={"events": len(event_ids)})
    return len(event_ids)


def unnotified_events(now: dt.datetime, days: int = CATCH_UP_DAYS) -> Any:
    """SELECT of visible event ids in [now − days, now − grace) with no message at all."""
    return (
        select(CaseEvent.id)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.visible_to_resident.is_(True),
            CaseEvent.at >= now - dt.timedelta(days=days),
            CaseEvent.at < now - CATCH_UP_GRACE,
            CaseEvent.actor_type.not_in([ActorType.RESIDENT, ActorType.BOT]),
            Case.contact_id.is_not(None),
            ~exists().where(Message.event_id == CaseEvent.id),
        )
        .order_by(CaseEvent.id)
    )


def release_held(now: dt.datetime | None = None) -> int:
    """After quiet hours, turn every held message queued and queue its delivery (batch jobs,
    shared by the workers); how many."""
    services = runtime.current()
    moment = now or dt.datetime.now(dt.UTC)
    if in_quiet_hours(moment, services.settings):
        return 0
    released = 0
    while True:
        with session_scope(services.sessions) as session:
            batch = select(Message.id).where(
                Message.status == MessageStatus.HELD, Message.direction == Direction.OUTBOUND
            )
            ids = list(session.scalars(batch.order_by(Message.id).limit(RELEASE_BATCH)))
            if not ids:
                break
            # Conditional: a row another run released meanwhile is not counted twice.
            rows = session.execute(
                update(Message)
                .where(Message.id.in_(ids), Message.status == MessageStatus.HELD)
                .values(status=MessageStatus.QUEUED)
                .returning(Message.id, Message.channel)
            ).all()
        deliver_queued(services.redis, [row[0] for row in rows if row[1] is not Channel.WEB])
        released += len(rows)
    if released:
        log.info("held notifications released", extra={"messages": released})
    return released


# ---------------------------------------------------------------------------------------------
# The work, in the caller's transaction


def notify_in(
    session: Session, settings: Settings, event_id: int, now: dt.datetime
) -> NotifyResult:
    """Store the notification (and, after 办结, the survey) of one event; the caller commits."""
    event = session.get(CaseEvent, event_id)
    if event is None or not event.visible_to_resident or event.actor_type is ActorType.BOT:
        return NotifyResult()  # the bot's own acts (受理 at intake, 更正) it told in its replies
    case = event.case
    stored: list[tuple[int, MessageStatus, Channel]] = []
    for contact in recipients(session, case):
        if event.actor_type is ActorType.RESIDENT and event.actor_id == contact.id:
            continue  # the bot already answered the resident's own message
        stored += _store(session, settings, case, event, contact, NOTICE, now)
        if event.action == "resolve" and contact.id == case.contact_id:
            stored += _store(session, settings, case, event, contact, SURVEY, now)
    if event.action == "reopen" and int(event.data.get("score", 0) or 0) >= 4:
        from worker.surveys import alert_dissatisfied

        stored += [
            (message_id, MessageStatus.QUEUED, Channel.SMS)
            for message_id in alert_dissatisfied(session, case, event, now)
        ]
    return NotifyResult(
        messages=len(stored),
        held=sum(status is MessageStatus.HELD for _, status, _ in stored),
        suppressed=sum(status is MessageStatus.SUPPRESSED for _, status, _ in stored),
        queued_ids=[
            message_id
            for message_id, status, channel in stored
            if status is MessageStatus.QUEUED and channel is not Channel.WEB
        ],
    )


def recipients(session: Session, case: Case) -> list[Contact]:
    """The case's contact, then the contacts of cases merged into it (directly or through a
    case merged into it later), each once."""
    ids = [case.contact_id] if case.contact_id is not None else []
    ids += [m.contact_id for m in merged_into(session, case) if m.contact_id is not None]
    unique = list(dict.fromkeys(i for i in ids if i is not None))
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(unique)))}
    return [contacts[i] for i in unique if i in contacts]


def store_message(
    session: Session,
    settings: Settings,
    case: Case,
    event: CaseEvent,
    contact: Contact,
    purpose: str,
    body: str,
    now: dt.datetime,
    *,
    urgent: bool = False,
) -> tuple[int, MessageStatus, Channel] | None:
    """Insert one message of an event to a contact; None when it was stored before.

    The status: suppressed for an opted-out contact, held in quiet hours unless `urgent` or
    on web chat, queued otherwise.
    """
    conversation = resident_conversation(session, case, contact)
    channel = resident_channel(contact, conversation)
    if contact.opted_out:
        status = MessageStatus.SUPPRESSED
    elif not urgent and channel is not Channel.WEB and in_quiet_hours(now, settings):
        status = MessageStatus.HELD
    else:
        status = MessageStatus.QUEUED
    message_id = insert_outbound_once(
        session,
        contact_id=contact.id,
        body=body,
        now=now,
        channel=channel,
        status=status,
        case_id=case.id,
        event_id=event.id,
        conversation_id=conversation.id if conversation else None,
        purpose=purpose,
    )
    return None if message_id is None else (message_id, status, channel)


def _store(
    session: Session,
    settings: Settings,
    case: Case,
    event: CaseEvent,
    contact: Contact,
    purpose: str,
    now: dt.datetime,
) -> list[tuple[int, MessageStatus, Channel]]:
    language = "en" if contact.language == "en" else "zh"
    body = (
        survey_text(case, settings, language, SURVEY)
        if purpose == SURVEY
        else notification_text(session, settings, case, event, language)
    )
    # An answer to the resident's own action, or news of an urgent case, is never held.
    urgent = case.urgent or event.actor_type is ActorType.RESIDENT
    row = store_message(session, settings, case, event, contact, purpose, body, now, urgent=urgent)
    return [row] if row else []


def resident_conversation(session: Session, case: Case, contact: Contact) -> Conversation | None:
    """The case's conversation when it is this contact's, else the contact's latest one."""
    if case.conversation_id is not None:
        conversation = session.get(Conversation, case.conversation_id)
        if conversation is not None and conversation.contact_id == contact.id:
            return conversation
    return session.scalars(
        select(Conversation)
        .where(Conversation.contact_id == contact.id)
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(1)
    ).first()


def resident_channel(contact: Contact, conversation: Conversation | None) -> Channel:
    """The conversation's channel when it can carry text; voice and the rest go by SMS."""
    if conversation is not None and conversation.channel not in _NOT_WRITTEN:
        return conversation.channel
    return _CHANNEL_OF_ADDRESS.get(contact.kind, Channel.SMS)


def in_quiet_hours(moment: dt.datetime, settings: Settings) -> bool:
    """Whether `moment` falls in the county's quiet hours (the span may cross midnight)."""
    start = dt.time.fromisoformat(settings.quiet_hours_start)
    end = dt.time.fromisoformat(settings.quiet_hours_end)
    local = moment.astimezone(settings.zone).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


# ---------------------------------------------------------------------------------------------
# Texts


def notification_text(
    session: Session, settings: Settings, case: Case, event: CaseEvent, language: str
) -> str:
    """The message telling a resident of one event, in `language`."""
    number = display_case_number(case.number, settings.case_number_prefix)
    key = TEXT_OF_ACTION.get(event.action, "notify_message" if event.note else "notify_update")
    params: dict[str, ParamValue] = {"number": number}
    if key == "notify_accepted":
        params["item"] = _item_name(case, language)
    elif key in {"notify_dispatched", "notify_signed", "notify_escalated"}:
        params["unit"] = _unit_name(session, case, event, language)
    elif key in {"notify_extended", "notify_reopened"}:
        due = case.due_at.astimezone(settings.zone) if case.due_at else None
        params["due"] = moment_reply(due, language)
    elif key == "notify_merged":
        survivor = str(event.data.get("duplicate_of") or "")
        if not survivor and case.duplicate_of_id is not None:
            surviving = session.get(Case, case.duplicate_of_id)
            survivor = surviving.number if surviving else ""
        params["survivor"] = display_case_number(survivor, settings.case_number_prefix)
        if event.note.strip():  # the merge form's 理由 is told to the resident, as it promises
            key = "notify_merged_reason"
    free_text = {"notify_rejected", "notify_materials_needed", "notify_resolved", "notify_message"}
    if key in free_text | {"notify_merged_reason"}:
        text = event.note or (case.result_text if key == "notify_resolved" else case.reason)
        whole = key == "notify_message"
        return _with_free_text(Reply(key, params, language), text, whole=whole)
    return render(Reply(key, params, language), texts())


def survey_text(case: Case, settings: Settings, language: str, purpose: str) -> str:
    """The 好差评 request (`SURVEY`) or its reminder (`REMINDER`)."""
    key = "survey_request" if purpose == SURVEY else "survey_reminder"
    number = display_case_number(case.number, settings.case_number_prefix)
    return render(Reply(key, {"number": number}, language), texts())


def _with_free_text(reply: Reply, text: str, *, whole: bool) -> str:
    """Fill {text}; an agent's result or reason is cut (with "…") to fit two SMS segments."""
    text = " ".join(text.split())
    if whole:
        text = text[:MAX_MESSAGE_CHARS]
    filled = render(Reply(reply.text_key, {**reply.params, "text": text}, reply.language), texts())
    if whole or fits_sms(filled):
        return filled
    ellipsis = "..." if reply.language == "en" else "…"
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits
        middle = (low + high + 1) // 2
        params = {**reply.params, "text": text[:middle].rstrip() + ellipsis}
        if fits_sms(render(Reply(reply.text_key, params, reply.language), texts())):
            low = middle
        else:
            high = middle - 1
    params = {**reply.params, "text": text[:low].rstrip() + ellipsis}
    return render(Reply(reply.text_key, params, reply.language), texts())


def _item_name(case: Case, language: str) -> str:
    return item_name(case.item_code, language, fallback=case.summary[:20])


def _unit_name(session: Session, case: Case, event: CaseEvent, language: str) -> str:
    """The unit the event moved the case to (交办, 上报), else the unit holding it."""
    code = event.data.get("to_unit")
    unit = (
        session.scalars(select(Department).where(Department.code == str(code))).first()
        if code
        else None
    )
    if unit is not None:
        return department_name(unit, language)
    holding = unit_name(session, case, language)
    if holding is None:
        return "相关单位" if language == "zh" else "the responsible unit"
    return holding


def deliver_queued(connection: Any, message_ids: list[int]) -> None:
    """Queue delivery of committed messages (batch jobs of `worker.delivery.BATCH_SIZE`); an
    unreachable queue leaves them queued for the recovery sweep."""
    if not message_ids:
        return
    try:
        enqueue_deliveries(connection, message_ids)
    except RedisError:
        log.warning("queue unreachable; messages stay queued", extra={"messages": len(message_ids)})
