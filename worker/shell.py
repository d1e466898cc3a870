"""The shell: load a conversation, run the bot, carry out its effects in one transaction.

Every channel hands a recorded inbound message (`worker.inbound`) to `handle_message`; jobs do
the same for messages found unprocessed by the recovery sweep. The bot (`bot.dialogue.step`) is
pure; everything it asks for — replies, opening a case, a rating, an opt-out, a hand-off — is
done here, in order, in one database transaction, together with storing the new dialogue state
and marking the message processed. Replies are stored as outbound messages: `sent` when the
channel delivers them in its own response (TwiML, WeChat passive reply, web chat JSON),
`queued` for delivery by a job otherwise.

A message is handled once: only a message still `received` is taken, under the conversation's
optimistic lock; a concurrent second attempt finds it processed and answers nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from bot.case_numbers import display_case_number, find_case_numbers
from bot.dialogue import CaseSummary, Context, DialogueState, Inbound, step
from bot.effects import (
    AFTER_OPEN_CASE,
    Effect,
    HandOff,
    OpenCase,
    OptIn,
    OptOut,
    ReclassifyCase,
    RecordRating,
    Reply,
    UpdateContact,
)
from bot.texts import fill_case, render, texts
from cases.db import is_transient_conflict, session_scope
from cases.duplicates import merged_into, surviving_case
from cases.lifecycle import BOT, ActionContext, Actor, perform
from cases.models import (
    Agent,
    Area,
    Case,
    CaseEvent,
    Contact,
    Conversation,
    Message,
    Rating,
)
from cases.models.cases import ActorType, CaseKind, CaseStatus
from cases.models.directory import AgentRole
from cases.models.messaging import Direction, MessageStatus
from cases.routing import route_case
from cases.service import Intake, open_case, reclassify_case
from cases.status_texts import STATUS_TEXT, unit_name
from intents.catalog import catalog
from worker.delivery import enqueue_delivery
from worker.runtime import Services
from worker.understanding import gazetteer, interpreter

log = logging.getLogger(__name__)

RECENT_CASES = 5
MAX_ATTEMPTS = 3
LOCK_RETRY_SECONDS = 0.05
RESIDENT = ActorType.RESIDENT


@dataclass(frozen=True)
class Handled:
    """What handling one message produced."""

    replies: tuple[str, ...] = ()
    opened: tuple[str, ...] = ()  # case numbers opened
    skipped: bool = False  # already handled (a retry) or not an inbound message
    reply_ids: tuple[int, ...] = field(default=())  # the stored replies, sent or queued


def handle_message(
    services: Services, message_id: int, *, synchronous: bool, now: dt.datetime | None = None
) -> Handled:
    """Run the bot on one recorded inbound message and carry out what it decides.

    Args:
        services: the process's database, queue and clock.
        message_id: a committed inbound message.
        synchronous: the channel sends the replies in its own response; else they are queued.
        now: the current time (tests); the real clock otherwise.
    """
    moment = now or dt.datetime.now(dt.UTC)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with session_scope(services.sessions) as session:
                handled = _handle(session, services, message_id, moment, synchronous)
            break
        except StaleDataError:  # another message of the conversation was handled meanwhile
            if attempt == MAX_ATTEMPTS:
                raise
        except DBAPIError as exc:  # SQLite busy, a stale snapshot, a deadlock: run it again
            if attempt == MAX_ATTEMPTS or not is_transient_conflict(exc):
                raise
            time.sleep(LOCK_RETRY_SECONDS * attempt)
    if not synchronous:
        for reply_id in handled.reply_ids:
            enqueue_delivery(services.redis, reply_id)
    return handled


def _handle(
    session: Session, services: Services, message_id: int, now: dt.datetime, synchronous: bool
) -> Handled:
    message = session.get(Message, message_id)
    if (
        message is None
        or message.direction is not Direction.INBOUND
        or message.status is not MessageStatus.RECEIVED
        or message.conversation_id is None
    ):
        return Handled(skipped=True)
    conversation = session.get(Conversation, message.conversation_id)
    contact = session.get(Contact, message.contact_id)
    assert conversation is not None and contact is not None
    settings = services.settings
    zone = services.clock.hours.zone
    local_now = now.astimezone(zone)
    parse = interpreter(settings).parse(message.body)
    context = _context(session, services, contact, conversation, message.body, local_now)
    state = DialogueState.from_dict(conversation.state)
    new_state, effects = step(state, Inbound(message.body, message.channel.value, parse), context)
    carrier = _Carrier(session, services, contact, conversation, message, now, synchronous)
    for effect in effects:
        carrier.carry_out(effect)
    if carrier.opened:  # lets 回复0更正 name the case just opened
        new_state = new_state.with_case_number(carrier.opened[-1])
    conversation.state = {**new_state.to_dict(), **carrier.state_notes}
    conversation.language = new_state.language or conversation.language
    # Notifications (worker.notify) speak the contact's language: the one they last wrote in.
    if contact.language != conversation.language:
        contact.language = conversation.language
    conversation.last_message_at = now
    message.status = MessageStatus.PROCESSED
    message.processed_at = now
    session.flush()
    return Handled(tuple(carrier.texts), tuple(carrier.opened), reply_ids=tuple(carrier.reply_ids))


def _context(
    session: Session,
    services: Services,
    contact: Contact,
    conversation: Conversation,
    text: str,
    now: dt.datetime,
) -> Context:
    recent = list(
        session.scalars(
            select(Case)
            .where(Case.contact_id == contact.id)
            .order_by(Case.id.desc())
            .limit(RECENT_CASES)
        )
    )
    mentioned = find_case_numbers(text)
    if mentioned:
        known = {case.number for case in recent}
        recent += list(
            session.scalars(
                select(Case).where(Case.number.in_([n for n in mentioned if n not in known]))
            )
        )
    last_events = _last_visible_events(session, [case.id for case in recent])
    summaries = tuple(_summary(session, case, contact, last_events.get(case.id)) for case in recent)
    pending = next((s.number for s in summaries if s.can_rate), None)
    calendar, hours = services.clock.calendar, services.clock.hours
    today = now.date()
    open_now = calendar.is_working_day(today) and hours.opening(today) <= now < hours.closing(today)
    if open_now:
        next_opening = None
    elif calendar.is_working_day(today) and now < hours.opening(today):
        next_opening = hours.opening(today)
    else:
        next_opening = hours.opening(calendar.next_working_day(today))
    return Context(
        now=now,
        catalog=catalog(),
        gazetteer=gazetteer(session),
        language=conversation.language or contact.language,
        contact_name=contact.name or None,
        area_id=contact.area_id,
        opted_out=contact.opted_out,
        cases=summaries,
        pending_survey=pending,
        office_hours_open=open_now,
        next_office_opening=next_opening,
    )


def _last_visible_events(session: Session, case_ids: list[int]) -> dict[int, CaseEvent]:
    """Each case's latest event the resident may see, in two queries whatever the count."""
    if not case_ids:
        return {}
    latest = (
        select(func.max(CaseEvent.id))
        .where(CaseEvent.case_id.in_(case_ids), CaseEvent.visible_to_resident.is_(True))
        .group_by(CaseEvent.case_id)
    )
    events = session.scalars(select(CaseEvent).where(CaseEvent.id.in_(latest)))
    return {event.case_id: event for event in events}


def _summary(session: Session, case: Case, contact: Contact, last: CaseEvent | None) -> CaseSummary:
    zh, en = STATUS_TEXT[case.status]
    mine = case.contact_id == contact.id
    if not mine and case.kind is CaseKind.SERVICE:
        # A resident whose own application was merged into this one follows it as theirs.
        mine = any(merged.contact_id == contact.id for merged in merged_into(session, case))
    merged_into_number = None
    if case.status is CaseStatus.MERGED:
        survivor = surviving_case(session, case)
        merged_into_number = survivor.number if survivor.id != case.id else None
    return CaseSummary(
        number=case.number,
        item_code=case.item_code,
        status=case.status.value,
        status_zh=zh,
        status_en=en,
        due=case.due_at,
        last_event=(last.note or None) if last and mine else None,
        can_rate=mine and case.status is CaseStatus.RESOLVED,
        mine=mine,
        merged_into=merged_into_number,
    )


class _Carrier:
    """Carries out effects in order, remembering what later effects need (the opened case)."""

    def __init__(
        self,
        session: Session,
        services: Services,
        contact: Contact,
        conversation: Conversation,
        message: Message,
        now: dt.datetime,
        synchronous: bool,
    ) -> None:
        self.session, self.services = session, services
        self.contact, self.conversation, self.message = contact, conversation, message
        self.now, self.synchronous = now, synchronous
        self.texts: list[str] = []
        self.opened: list[str] = []
        self.reply_ids: list[int] = []
        self.last_case: dict[str, Case] = {}
        self.state_notes: dict[str, str] = {}  # kept beside the dialogue state (hand-off reason)

    def carry_out(self, effect: Effect) -> None:
        handler = getattr(self, f"_{effect.kind}")
        handler(effect)

    def _reply(self, reply: Reply) -> None:
        if reply.after is not None:
            case = self.last_case.get(reply.after)
            if case is None:
                log.warning("reply needs a case that was not opened", extra={"key": reply.text_key})
                return
            due = case.due_at.astimezone(self.services.clock.hours.zone) if case.due_at else None
            prefix = self.services.settings.case_number_prefix
            reply = fill_case(
                reply,
                number=display_case_number(case.number, prefix),
                due=due,
                unit=unit_name(self.session, case, reply.language),
            )
        body = render(reply, texts())
        case = self.last_case.get(AFTER_OPEN_CASE)
        outbound = Message(
            conversation_id=self.conversation.id,
            contact_id=self.contact.id,
            case_id=case.id if case else None,
            direction=Direction.OUTBOUND,
            channel=self.message.channel,
            body=body,
            media=[],
            status=MessageStatus.SENT if self.synchronous else MessageStatus.QUEUED,
            sent_at=self.now if self.synchronous else None,
            created_at=self.now,
        )
        self.session.add(outbound)
        self.session.flush()
        self.texts.append(body)
        self.reply_ids.append(outbound.id)

    def _open_case(self, effect: OpenCase) -> None:
        intake = Intake(
            item_code=effect.item_code,
            description=effect.description,
            channel=self.message.channel,
            area_id=effect.area_id,
            contact_id=self.contact.id,
            conversation_id=self.conversation.id,
            confidence=effect.confidence,
            urgent=effect.urgent,
        )
        case = open_case(self.session, intake, now=self.now, clock=self.services.clock, actor=BOT)
        if effect.for_proxy_agent and case.area_id is not None:
            case.assignee_id = self._proxy_agent(case.area_id)
        if effect.name and not self.contact.name:
            self.contact.name = effect.name[:64]
        self.session.flush()
        self.message.case_id = case.id
        self.last_case[AFTER_OPEN_CASE] = case
        self.opened.append(case.number)

    def _reclassify_case(self, effect: ReclassifyCase) -> None:
        case = self._own_case(effect.number)
        if case is None:
            return
        context = ActionContext(self.now, self.services.clock, {"by": "resident"})
        reclassify_case(self.session, case, effect.item_code, self._resident(), context)
        self.last_case["reclassify_case"] = case

    def _record_rating(self, effect: RecordRating) -> None:
        case = self._own_case(effect.number)
        if case is None or case.status is not CaseStatus.RESOLVED:
            return
        self.session.add(
            Rating(
                case_id=case.id,
                contact_id=self.contact.id,
                score=effect.score,
                channel=self.message.channel,
                comment="",
                at=self.now,
            )
        )
        context = ActionContext(self.now, self.services.clock, {"score": effect.score})
        action = "reopen" if effect.score >= 4 else "rate"
        note = "群众评价不满意，重新办理" if action == "reopen" else ""
        self.session.add(perform(case, action, self._resident(), context, note=note))

    def _hand_off(self, effect: HandOff) -> None:
        self.conversation.handoff_requested_at = self.now
        self.conversation.state = {
            **(self.conversation.state or {}),
            "handoff_reason": effect.reason,
        }

    def _opt_out(self, effect: OptOut) -> None:
        self.contact.opted_out = True
        self.contact.opted_out_at = self.now

    def _opt_in(self, effect: OptIn) -> None:
        self.contact.opted_out = False
        self.contact.opted_out_at = None

    def _update_contact(self, effect: UpdateContact) -> None:
        if effect.name:
            self.contact.name = effect.name[:64]
        if effect.area_id is not None and self.session.get(Area, effect.area_id) is not None:
            self.contact.area_id = effect.area_id

    def _set_case_place(self, effect: Effect) -> None:
        """The place a resident gives right after the receipt: the case (and, while nobody
        has started on it, its owning unit) moves there; the history notes it."""
        from bot.effects import SetCasePlace

        if not isinstance(effect, SetCasePlace):
            return
        case = self._own_case(effect.number)
        area = self.session.get(Area, effect.area_id)
        if case is None or area is None:
            return
        route = route_case(self.session, catalog().item(case.item_code), area)
        case.area_id = area.id
        case.town_id = route.town.id if route.town else None
        unstarted = case.status in {CaseStatus.NEW, CaseStatus.ACCEPTED}
        if unstarted and case.dispatched_at is None:
            case.department_id = route.department.id
            if not route.needs_review:
                case.needs_review = False
        context = ActionContext(self.now, self.services.clock, {"area_id": area.id})
        note = f"群众补充地点：{area.name}"
        self.session.add(perform(case, "note", self._resident(), context, note=note))
        self.last_case[effect.kind] = case

    def _own_case(self, number: str) -> Case | None:
        return self.session.scalars(
            select(Case).where(Case.number == number, Case.contact_id == self.contact.id)
        ).first()

    def _proxy_agent(self, area_id: int) -> int | None:
        area = self.session.get(Area, area_id)
        if area is None:
            return None
        village_ids = [int(part) for part in area.path.strip("/").split("/") if part]
        return self.session.scalars(
            select(Agent.id)
            .where(
                Agent.role == AgentRole.VILLAGE_PROXY,
                Agent.active.is_(True),
                Agent.area_id.in_(village_ids),
            )
            .order_by(Agent.id)
            .limit(1)
        ).first()

    def _resident(self) -> Actor:
        return Actor(RESIDENT, self.contact.id, self.contact.name or "群众")


def handle_or_count(
    services: Services, message_id: int, *, synchronous: bool, now: dt.datetime | None = None
) -> Handled | None:
    """`handle_message` at a channel's boundary: None when the bot failed.

    The message is already committed, so a failure loses nothing: it is logged, counted as an
    attempt (parked after MAX_ATTEMPTS), and left for a retry or the recovery sweep, while the
    channel answers its provider all the same.
    """
    try:
        return handle_message(services, message_id, synchronous=synchronous, now=now)
    except Exception as exc:  # the channel boundary
        log.exception("bot failed on a message", extra={"message_id": message_id})
        count_attempt(services, message_id, exc)
        return None


def count_attempt(services: Services, message_id: int, error: BaseException) -> None:
    """Note a failed attempt on an inbound message; park it after MAX_ATTEMPTS for a person."""
    try:
        with session_scope(services.sessions) as session:
            message = session.get(Message, message_id)
            if message is None or message.status is not MessageStatus.RECEIVED:
                return
            message.attempts += 1
            message.error_message = type(error).__name__[:255]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = MessageStatus.FAILED
                conversation = session.get(Conversation, message.conversation_id)
                if conversation is not None:
                    conversation.handoff_requested_at = dt.datetime.now(dt.UTC)
    except SQLAlchemyError:
        log.exception("could not record a failed attempt", extra={"message_id": message_id})
