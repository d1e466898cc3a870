"""好差评 surveys: one reminder, closing unrated, 重办 alerts, and the monthly unit review."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cases.lifecycle import ActionContext, Actor, perform
from cases.models import AccountabilityEntry, Case, CaseEvent, Contact, Department, Message, Rating
from cases.models.cases import ActorType, CaseStatus
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.settings import load_settings
from tests.worker.test_breach import NOW, add_case, install_services, shanghai, stored
from worker import runtime
from worker.breach import breach_recipients
from worker.notify import notify_event
from worker.runtime import Services
from worker.surveys import monthly_review, monthly_review_if_due, survey_sweep

AGENT = Actor(ActorType.AGENT, 1, "陈建平")
DAY = dt.timedelta(days=1)
HEAD = "+8613900010107"  # 陈海波, head of 城关城市管理中队


@pytest.fixture
def services(engine: Engine, tmp_path: Path) -> Iterator[Services]:
    """Jobs on the test database with a private in-memory Redis."""
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield install_services(engine, redis, load_settings(instance_path=tmp_path))


def resolved_case(
    session: Session,
    number: str = "202611230017",
    *,
    at: dt.datetime = NOW,
    phone: str = "+8613900011999",
) -> Case:
    """A case of 城关城市管理中队 resolved at `at`, its resident reached by SMS."""
    contact = Contact(kind=AddressKind.PHONE, address=phone, phone=phone)
    session.add(contact)
    session.commit()
    case = add_case(
        session,
        "chengguan.urban",
        number=number,
        due_at=at + 72 * dt.timedelta(hours=1),
        status=CaseStatus.IN_PROGRESS,
        contact_id=contact.id,
    )
    clock = runtime.current().clock
    session.add(perform(case, "resolve", AGENT, ActionContext(at, clock), note="已修好"))
    session.commit()
    return case


def reminders(services: Services) -> list[Message]:
    """Survey reminders as committed now."""
    return stored(services, Message, Message.purpose == "reminder")  # type: ignore[arg-type]


def status_of(services: Services, case: Case) -> CaseStatus:
    """The case's status as committed now."""
    with services.sessions() as session:
        found = session.get(Case, case.id)
        assert found is not None
        return found.status


def test_one_reminder_after_two_days_then_closed_three_days_later(
    demo_session: Session, services: Services
) -> None:
    """Not before +2 days a reminder, once; not before +5 days closed unrated, once."""
    case = resolved_case(demo_session)
    assert survey_sweep(NOW + 2 * DAY - dt.timedelta(minutes=1)).reminded == 0
    assert survey_sweep(NOW + 2 * DAY).reminded == 1
    assert survey_sweep(NOW + 2 * DAY + dt.timedelta(hours=1)).reminded == 0
    (reminder,) = reminders(services)
    assert reminder.status is MessageStatus.QUEUED and reminder.channel is Channel.SMS
    assert "202611230017" in reminder.body and "5非常不满意" in reminder.body

    assert survey_sweep(NOW + 5 * DAY - dt.timedelta(minutes=1)).closed == 0
    assert status_of(services, case) is CaseStatus.RESOLVED
    assert survey_sweep(NOW + 5 * DAY).closed == 1
    assert survey_sweep(NOW + 6 * DAY) == survey_sweep(NOW + 6 * DAY)
    assert status_of(services, case) is CaseStatus.CLOSED
    closes = stored(services, CaseEvent, CaseEvent.action == "close")  # type: ignore[arg-type]
    assert len(closes) == 1 and closes[0].data["reason"] == "unrated"


def test_a_rated_case_is_neither_reminded_nor_closed(
    demo_session: Session, services: Services
) -> None:
    """A rating before the reminder ends the survey."""
    case = resolved_case(demo_session)
    clock = runtime.current().clock
    me = Actor(ActorType.RESIDENT, case.contact_id, "群众")
    demo_session.add(perform(case, "rate", me, ActionContext(NOW + DAY, clock, {"score": 1})))
    demo_session.commit()
    assert survey_sweep(NOW + 10 * DAY).reminded == 0
    assert status_of(services, case) is CaseStatus.RATED


def test_a_case_with_nobody_to_ask_closes_five_days_after_resolution(
    demo_session: Session, services: Services
) -> None:
    """No resident contact: no reminder, closed at +5 days."""
    case = resolved_case(demo_session)
    case.contact_id = None
    demo_session.commit()
    assert survey_sweep(NOW + 5 * DAY - dt.timedelta(minutes=1)) == survey_sweep(NOW)
    assert survey_sweep(NOW + 5 * DAY).closed == 1


def test_rating_five_reopens_for_fifteen_working_days_and_alerts_the_leader_once(
    demo_session: Session, services: Services
) -> None:
    """非常不满意 (as the shell records it): 重办, due in 15 working days, one SMS to the leader."""
    case = resolved_case(demo_session)
    clock = runtime.current().clock
    at = NOW + DAY
    demo_session.add(
        Rating(case_id=case.id, contact_id=case.contact_id, score=5, channel=Channel.SMS, at=at)
    )
    me = Actor(ActorType.RESIDENT, case.contact_id, "群众")
    event = perform(case, "reopen", me, ActionContext(at, clock, {"score": 5}), note="不满意")
    demo_session.add(event)
    demo_session.commit()
    expected = clock.deadline(at, case.handling, working_days=15).due_at
    assert case.status is CaseStatus.REOPENED and case.due_at == expected
    assert shanghai(2026, 12, 15) <= case.due_at < shanghai(2026, 12, 16)  # 15 working days on

    first, again = notify_event(event.id, at), notify_event(event.id, at)
    assert (first.messages, again.messages) == (1, 0)  # the leader only; the resident was answered
    (alert,) = stored(services, Message, Message.event_id == event.id)  # type: ignore[arg-type]
    with services.sessions() as session:
        to = session.get(Contact, alert.contact_id)
        unit = session.scalars(select(Department).where(Department.code == "chengguan.urban")).one()
        leaders = [p.phone for p in breach_recipients(session, unit) if p.role == "leader"]
    assert to is not None and leaders and to.phone == leaders[0] != HEAD
    assert "差评重办" in alert.body and "202611230017" in alert.body and "非常不满意" in alert.body
    # delivered by the notify run itself (the local sender), once
    assert alert.direction is Direction.OUTBOUND and alert.status is MessageStatus.SENT
    assert (alert.attempts, first.sent, again.sent) == (1, 1, 0)


def _rate(session: Session, unit_code: str, scores: list[int], at: dt.datetime, start: int) -> None:
    """Cases of a unit received at `at`, each rated with one of `scores`."""
    for offset, score in enumerate(scores):
        case = add_case(
            session,
            unit_code,
            number=f"2026{start + offset:08d}",
            due_at=at + 5 * DAY,
            status=CaseStatus.RATED,
        )
        case.received_at = at
        session.add(
            Rating(case_id=case.id, contact_id=None, score=score, channel=Channel.SMS, at=at + DAY)
        )
    session.commit()


def entries(services: Services, kind: str) -> list[AccountabilityEntry]:
    """Accountability entries of one kind."""
    return stored(services, AccountabilityEntry, AccountabilityEntry.kind == kind)  # type: ignore[arg-type]


def test_monthly_review_interviews_units_under_eighty_percent_once(
    demo_session: Session, services: Services
) -> None:
    """3 of 5 satisfied (60 %) → 约谈; exactly 80 % → none; a second run writes nothing."""
    october = shanghai(2026, 10, 10, 10)
    _rate(demo_session, "chengguan.urban", [1, 2, 3, 4, 5], october, 1)
    _rate(demo_session, "chengguan.civil", [1, 1, 2, 3, 4], october, 100)
    assert monthly_review_if_due(shanghai(2026, 11, 1, 5, 0)) == "not due"
    assert monthly_review_if_due(shanghai(2026, 11, 4, 9, 0)) == "not due"
    result = monthly_review("2026-10", shanghai(2026, 11, 1, 7, 0))
    assert (result.units, result.interviews, result.accountability) == (2, 1, 0)
    assert "interviews=0" in monthly_review_if_due(shanghai(2026, 11, 1, 8, 0))
    (talk,) = entries(services, "interview")
    assert talk.period == "2026-10" and talk.data["satisfaction_rate"] == 0.6
    with pytest.raises(ValueError, match="YYYY-MM"):
        monthly_review("October")


def test_more_than_three_interviews_in_twelve_months_flag_accountability_once(
    demo_session: Session, services: Services
) -> None:
    """The 4th 约谈 in 12 months is not enough; the 5th is (> 3 before it); once per 12 months."""
    months = [(2026, m) for m in (3, 4, 5, 6, 7, 8)]
    flagged = []
    for index, (year, month) in enumerate(months):
        _rate(demo_session, "chengguan.urban", [4, 5], shanghai(year, month, 10, 10), 10 * index)
        flagged.append(monthly_review(f"{year}-{month:02d}", shanghai(year, month + 1, 1, 7)))
    assert [r.interviews for r in flagged] == [1] * 6
    assert [r.accountability for r in flagged] == [0, 0, 0, 1, 0, 0]
    (flag,) = entries(services, "accountability")
    assert flag.period == "2026-06"
