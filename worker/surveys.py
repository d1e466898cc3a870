"""好差评 surveys (一事一评价, 回访), 重办 alerts, and the monthly review of the units.

- **The survey** goes out with the 办结 notification (`worker.notify`, purpose ``survey``): the
  resident replies 1–5 (1 非常满意, 2 满意, 3 基本满意, 4 不满意, 5 非常不满意); the bot already
  understands the reply (`pending_survey`) and the shell records it: 1–3 rate the case, 4–5
  reopen it (重办) with a fresh 15-working-day promise.
- **A dissatisfied rating** (4 or 5) alerts the handling unit's supervising leader by SMS
  (`alert_dissatisfied`, called by the notification of the reopen event; keyed by that event).
- **`survey_sweep`** (periodic): a case resolved 2 days ago and still unrated gets one reminder
  (purpose ``reminder`` on the resolve event: the unique ``(event_id, contact_id, purpose)``
  makes it one); 3 days after the reminder it is closed unrated (lifecycle ``close``, under the
  case's row lock and only while it is still ``resolved``). A case without a resident to ask is
  closed 5 days after 办结. Both steps find their cases with one query each.
- **`monthly_review`** (periodic, on the 1st for the previous month): each unit's 满意率 (ratings
  1–3 / all ratings, `cases.metrics`); a unit under 80 % gets an accountability entry of kind
  ``interview`` (约谈); a unit with more than 3 of them in 12 months gets one of kind
  ``accountability`` (问责), once in any 12 months. Entries name their month, unique per unit,
  kind and month, so a second run writes nothing.

Voice-origin cases are surveyed by SMS (the resident's phone); an outbound keypad call is not
built.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from cases.clock import Clock
from cases.db import insert_for, session_scope
from cases.lifecycle import SYSTEM, ActionContext, perform
from cases.metrics import SATISFACTION_LINE, Period, unit_counts
from cases.models import AccountabilityEntry, Case, CaseEvent, Contact, Department, Message
from cases.models.cases import CaseStatus
from cases.models.messaging import Channel, MessageStatus
from worker import runtime
from worker.breach import (
    breach_recipients,
    case_detail,
    format_moment,
    queue_staff_sms,
    staff_contact,
    staff_text,
)
from worker.notify import REMINDER, deliver_queued, store_message, survey_text

log = logging.getLogger(__name__)

SWEEP_JOB = "worker.surveys.survey_sweep"
REVIEW_JOB = "worker.surveys.monthly_review_if_due"

REMIND_AFTER = dt.timedelta(days=2)
CLOSE_AFTER_REMINDER = dt.timedelta(days=3)
CLOSE_UNREACHABLE_AFTER = REMIND_AFTER + CLOSE_AFTER_REMINDER
CHUNK = 200
# The review runs on the first days of the month (a cron down on the 1st catches up by the 3rd).
REVIEW_DAYS = (1, 2, 3)
REVIEW_FROM = dt.time(6, 0)
INTERVIEW, ACCOUNTABILITY = "interview", "accountability"  # 约谈, 问责
# 问责: more than this many 约谈 in the last 12 months.
INTERVIEWS_BEFORE_ACCOUNTABILITY = 3


@dataclass(frozen=True)
class SweepResult:
    """What one survey sweep did."""

    reminded: int = 0
    closed: int = 0


@dataclass(frozen=True)
class ReviewResult:
    """What one monthly review wrote."""

    period: str
    units: int = 0  # units with ratings in the month
    interviews: int = 0  # new 约谈 entries
    accountability: int = 0  # new 问责 entries


# ---------------------------------------------------------------------------------------------
# Reminders and closing unrated


def _last_resolve_id() -> Any:
    """Correlated: the id of the case's latest resolve event."""
    return (
        select(func.max(CaseEvent.id))
        .where(CaseEvent.case_id == Case.id, CaseEvent.action == "resolve")
        .scalar_subquery()
    )


def cases_to_remind(now: dt.datetime) -> Select[Any]:
    """(case id, resolve event id) of resolved cases, 2 days on, not yet reminded."""
    last_resolve = _last_resolve_id()
    return (
        select(Case.id, last_resolve)
        .where(
            Case.status == CaseStatus.RESOLVED,
            Case.resolved_at <= now - REMIND_AFTER,
            Case.contact_id.is_not(None),
            ~exists().where(
                Message.event_id == last_resolve,
                Message.contact_id == Case.contact_id,
                Message.purpose == REMINDER,
            ),
        )
        .order_by(Case.id)
    )


def cases_to_close(now: dt.datetime) -> Select[Any]:
    """Resolved cases reminded 3 days ago (or with nobody to ask, 5 days after 办结)."""
    reminder = aliased(Message)
    return (
        select(Case.id)
        .where(
            Case.status == CaseStatus.RESOLVED,
            or_(
                exists().where(
                    reminder.event_id == _last_resolve_id(),
                    reminder.purpose == REMINDER,
                    reminder.created_at <= now - CLOSE_AFTER_REMINDER,
                ),
                and_(
                    Case.contact_id.is_(None),
                    Case.resolved_at <= now - CLOSE_UNREACHABLE_AFTER,
                ),
            ),
        )
        .order_by(Case.id)
    )


def survey_sweep(now: dt.datetime | None = None) -> SweepResult:
    """Remind once after 2 days, close unrated 3 days after the reminder (idempotent)."""
    services = runtime.current()
    moment = now or dt.datetime.now(dt.UTC)
    with session_scope(services.sessions) as session:
        to_remind = [(int(row[0]), int(row[1])) for row in session.execute(cases_to_remind(moment))]
    reminded = 0
    for start in range(0, len(to_remind), CHUNK):
        queued: list[int] = []
        with session_scope(services.sessions) as session:
            for case_id, event_id in to_remind[start : start + CHUNK]:
                row = _remind(session, case_id, event_id, moment)
                if row is not None:
                    reminded += 1
                    message_id, status, channel = row
                    if status is MessageStatus.QUEUED and channel is not Channel.WEB:
                        queued.append(message_id)
        deliver_queued(services.redis, queued)

    with session_scope(services.sessions) as session:
        to_close = [int(case_id) for case_id in session.scalars(cases_to_close(moment))]
    closed = 0
    for case_id in to_close:
        with session_scope(services.sessions) as session:
            closed += _close_unrated(session, services.clock, case_id, moment)
    if reminded or closed:
        log.info("survey sweep", extra={"reminded": reminded, "closed": closed})
    return SweepResult(reminded, closed)


def _remind(
    session: Session, case_id: int, event_id: int, now: dt.datetime
) -> tuple[int, MessageStatus, Channel] | None:
    settings = runtime.current().settings
    case = session.get(Case, case_id)
    event = session.get(CaseEvent, event_id)
    if case is None or event is None or case.contact_id is None:
        return None
    if case.status is not CaseStatus.RESOLVED:
        return None  # rated meanwhile
    contact = session.get(Contact, case.contact_id)
    if contact is None:
        return None
    language = "en" if contact.language == "en" else "zh"
    body = survey_text(case, settings, language, REMINDER)
    return store_message(session, settings, case, event, contact, REMINDER, body, now)


def _close_unrated(session: Session, clock: Clock, case_id: int, now: dt.datetime) -> int:
    case = session.get(Case, case_id, with_for_update=True)
    if case is None or case.status is not CaseStatus.RESOLVED:
        return 0  # rated, reopened or closed meanwhile
    context = ActionContext(now, clock, {"reason": "unrated"})
    session.add(perform(case, "close", SYSTEM, context, note="超时未评价，自动结案"))
    return 1


# ---------------------------------------------------------------------------------------------
# 重办 after a dissatisfied rating: the supervising leader hears of it


def alert_dissatisfied(
    session: Session, case: Case, event: CaseEvent, now: dt.datetime
) -> list[int]:
    """SMS the unit's supervising leader (its head when it has none) of a 4–5 rating, once.

    Returns the ids of new queued messages (none when this event alerted them before).
    """
    unit = session.get(Department, case.department_id) if case.department_id else None
    if unit is None:
        log.warning("dissatisfied rating on a case without a unit", extra={"case_id": case.id})
        return []
    people = breach_recipients(session, unit)
    chosen = [person for person in people if person.role == "leader"] or people[:1]
    zone = runtime.current().settings.zone
    score = int(event.data.get("score", 5))
    ids: list[int] = []
    for person in chosen:
        contact = staff_contact(session, person.phone, person.name, now)
        language = contact.language
        body = staff_text(
            "dissatisfied",
            language,
            number=case.number,
            detail=case_detail(session, case, language),
            rating=staff_text(f"rating_{min(max(score, 4), 5)}", language),
            due=format_moment(case.due_at, zone, language) if case.due_at else "—",
            unit=unit.name_en if language == "en" and unit.name_en else unit.name,
        )
        message_id = queue_staff_sms(
            session, contact.id, body, now, case_id=case.id, event_id=event.id
        )
        if message_id is not None:
            ids.append(message_id)
    log.info("dissatisfied rating alerted", extra={"case_id": case.id, "messages": len(ids)})
    return ids


# ---------------------------------------------------------------------------------------------
# The monthly review of the units (满意率 < 80 % → 约谈; > 3 约谈 in 12 months → 问责)


def monthly_review_if_due(now: dt.datetime | None = None) -> str:
    """On the first days of the month (local, after 06:00) review the previous month."""
    from worker.reports import previous_period

    services = runtime.current()
    moment = now or dt.datetime.now(dt.UTC)
    local = moment.astimezone(services.settings.zone)
    if local.day not in REVIEW_DAYS or (local.day == 1 and local.time() < REVIEW_FROM):
        return "not due"
    return repr(monthly_review(previous_period(moment, services.settings.zone), moment))


def monthly_review(period: str, now: dt.datetime | None = None) -> ReviewResult:
    """Review one month ("2026-10"): 约谈 for units under 80 %, 问责 after more than 3.

    Raises:
        ValueError: `period` is not a month written YYYY-MM.
    """
    year, month = _parse_month(period)
    services = runtime.current()
    moment = now or dt.datetime.now(dt.UTC)
    window = _months_back(year, month, 12)
    with session_scope(services.sessions) as session:
        span = Period.month(year, month, services.settings.zone)
        per_unit = unit_counts(session, span, as_of=min(moment, span.end))
        rated = {unit_id: c for unit_id, c in per_unit.items() if unit_id and c.ratings}
        interviews = 0
        for unit_id, counts in sorted(rated.items()):
            rate = counts.satisfaction_rate
            if rate is None or rate >= SATISFACTION_LINE:
                continue
            unit = session.get(Department, unit_id)
            interviews += _insert_interview(session, unit, period, rate, counts.ratings, moment)
        flagged = _insert_accountability(session, period, window, moment)
    log.info(
        "monthly review",
        extra={"period": period, "interviews": interviews, "accountability": flagged},
    )
    return ReviewResult(period, len(rated), interviews, flagged)


def _insert_interview(
    session: Session,
    unit: Department | None,
    period: str,
    rate: float,
    ratings: int,
    now: dt.datetime,
) -> int:
    if unit is None:
        return 0
    statement = (
        insert_for(session)(AccountabilityEntry)
        .values(
            department_id=unit.id,
            kind=INTERVIEW,
            period=period,
            person_name=unit.head_name[:32],
            note=f"{period}满意率{rate:.1%}，低于80%，约谈单位负责人",
            at=now,
            data={"satisfaction_rate": round(rate, 4), "ratings": ratings},
        )
        .on_conflict_do_nothing()
        .returning(AccountabilityEntry.id)
    )
    return int(session.execute(statement).scalar_one_or_none() is not None)


def _insert_accountability(
    session: Session, period: str, window: list[str], now: dt.datetime
) -> int:
    """问责 for every unit with more than 3 约谈 in the window and no 问责 in it yet.

    One INSERT … SELECT: the conditions and the write are one statement, and the unique
    (unit, kind, month) stops a second run of the same month.
    """
    earlier = aliased(AccountabilityEntry)
    counted = (
        select(
            AccountabilityEntry.department_id.label("department_id"),
            func.count().label("interviews"),
        )
        .where(AccountabilityEntry.kind == INTERVIEW, AccountabilityEntry.period.in_(window))
        .group_by(AccountabilityEntry.department_id)
        .having(func.count() > INTERVIEWS_BEFORE_ACCOUNTABILITY)
        .subquery()
    )
    source = (
        select(
            counted.c.department_id,
            literal(ACCOUNTABILITY),
            literal(period),
            func.coalesce(Department.head_name, ""),
            literal(f"12个月内约谈超过{INTERVIEWS_BEFORE_ACCOUNTABILITY}次，启动问责"),
            literal(now, AccountabilityEntry.at.type),
            literal({"window": [window[-1], window[0]]}, AccountabilityEntry.data.type),
        )
        .join(Department, Department.id == counted.c.department_id)
        .where(
            ~exists().where(
                earlier.department_id == counted.c.department_id,
                earlier.kind == ACCOUNTABILITY,
                earlier.period.in_(window),
            )
        )
    )
    statement = (
        insert_for(session)(AccountabilityEntry)
        .from_select(
            ["department_id", "kind", "period", "person_name", "note", "at", "data"], source
        )
        .on_conflict_do_nothing()
        .returning(AccountabilityEntry.id)
    )
    return len(session.execute(statement).all())


def _parse_month(period: str) -> tuple[int, int]:
    try:
        moment = dt.datetime.strptime(period, "%Y-%m")
    except ValueError:
        raise ValueError(f"a review period is a month written YYYY-MM, not {period!r}") from None
    return moment.year, moment.month


def _months_back(year: int, month: int, count: int) -> list[str]:
    """The month and the `count − 1` before it, newest first ("2026-10", "2026-09", …)."""
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months
