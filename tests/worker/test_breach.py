"""Red-light breaches and late 签收: SMS to head and leader, escalation, accountability, once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import fakeredis
import pytest
from redis import Redis
from sqlalchemy import ColumnElement, Engine, func, inspect, select
from sqlalchemy.orm import Session

from cases.calendar import make_calendar
from cases.clock import Clock, OfficeHours
from cases.db import make_session_factory
from cases.models import (
    AccountabilityEntry,
    Area,
    Base,
    Case,
    CaseEvent,
    Contact,
    Department,
    Message,
)
from cases.models.cases import CaseKind, CaseStatus, HandlingKind, WarningLevel
from cases.models.messaging import AddressKind, Channel
from cases.settings import Settings, load_settings
from worker import breach, runtime
from worker.breach import (
    handle_breaches,
    handle_unsigned,
    placeholders,
    sign_deadline,
    staff_texts,
    unsigned_cutoff,
)
from worker.queue import get_queue
from worker.runtime import Services
from worker.sweeps import sweep_deadlines

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)  # a Monday
HOUR = dt.timedelta(hours=1)
M = TypeVar("M", bound=Base)


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An aware time in the county's zone."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


# ---------------------------------------------------------------------------------------------
# Builders shared with test_sweeps and test_digest


def install_services(engine: Engine, redis: Redis, settings: Settings) -> Services:
    """Make jobs in this process use the test database, this Redis and the county clock."""
    clock = Clock(make_calendar(), OfficeHours.parse("08:30", "17:30", settings.zone))
    services = Services(settings, engine, make_session_factory(engine), redis, clock)
    runtime.install(services)
    return services


def unit(session: Session, code: str) -> Department:
    """A demo unit by code."""
    return session.scalars(select(Department).where(Department.code == code)).one()


def add_case(
    session: Session,
    unit_code: str,
    *,
    number: str,
    due_at: dt.datetime | None,
    status: CaseStatus = CaseStatus.IN_PROGRESS,
    level: WarningLevel = WarningLevel.NONE,
    yellow_at: dt.datetime | None = None,
    orange_at: dt.datetime | None = None,
    place: str = "chengguan.dongmen.g1",
    item_code: str = "infra_streetlight",
    **values: object,
) -> Case:
    """Commit a case of a demo unit with the given clock; thresholds default to due − 4h / − 2h."""
    if due_at is not None:
        yellow_at = yellow_at or due_at - 4 * HOUR
        orange_at = orange_at or due_at - 2 * HOUR
    case = Case(
        number=number,
        item_code=item_code,
        category_code="urban_rural",
        kind=CaseKind.CONCERN,
        handling=HandlingKind.PROMISED,
        channel=Channel.SMS,
        status=status,
        summary="路灯坏了",
        area_id=session.scalars(select(Area.id).where(Area.code == place)).one(),
        department_id=unit(session, unit_code).id,
        warning_level=level,
        received_at=NOW - 30 * 24 * HOUR,
        due_at=due_at,
        yellow_at=yellow_at,
        orange_at=orange_at,
        created_at=NOW - 30 * 24 * HOUR,
        updated_at=NOW - 30 * 24 * HOUR,
        **values,
    )
    session.add(case)
    session.commit()
    return case


def stored(services: Services, model: type[M], *where: ColumnElement[bool]) -> list[M]:
    """Rows of `model` as committed now, in id order (read in a fresh session)."""
    with services.sessions() as session:
        statement = select(model).where(*where).order_by(*inspect(model).primary_key)
        return list(session.scalars(statement))


def count(services: Services, model: type) -> int:
    """How many rows of `model` are committed."""
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def queued_jobs(redis: Redis, queue: str = "default") -> list[tuple[str, tuple[object, ...]]]:
    """(function, args) of the jobs waiting on a queue."""
    return [(str(job.func_name), tuple(job.args)) for job in get_queue(queue, redis).get_jobs()]


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def services(engine: Engine, tmp_path: Path) -> Iterator[Services]:
    """Runtime services on the test database with a private in-memory Redis."""
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield install_services(engine, redis, load_settings(instance_path=tmp_path))


@pytest.fixture
def red_case(demo_session: Session, services: Services) -> Case:
    """A case of the county civil-affairs bureau, 5h10m overdue, turned red by a sweep."""
    case = add_case(
        demo_session, "civil_affairs", number="202611200001", due_at=NOW - 5 * HOUR - HOUR / 6
    )
    assert sweep_deadlines(NOW).red == 1
    return case


HEAD = "+8613900001101"  # 陈志明, 局长 of 清溪县民政局
LEADER = "+8613900000003"  # 郑晓燕, 副县长 in charge


# ---------------------------------------------------------------------------------------------
# Breach


def test_breach_texts_head_and_leader_escalates_and_records(
    red_case: Case, services: Services
) -> None:
    """A red case: one SMS each to head and leader, one escalation, one accountability entry."""
    result = handle_breaches([red_case.id], now=NOW)
    assert (result.alerted, result.messages, result.escalated) == (1, 2, 1)

    (warn,) = stored(services, CaseEvent, CaseEvent.action == "warn")
    messages = stored(services, Message)
    body = (
        "【直通】红灯超期：工单202611200001（路灯不亮，东门社区）已超期5小时，请立即处理。"
        "承办单位：清溪县民政局"
    )
    assert [m.body for m in messages] == [body, body]
    assert {m.event_id for m in messages} == {warn.id}
    assert all(m.case_id == red_case.id and m.status.value == "queued" for m in messages)
    contacts = stored(services, Contact, Contact.id.in_([m.contact_id for m in messages]))
    assert {c.phone for c in contacts} == {HEAD, LEADER}
    assert all(c.kind is AddressKind.PHONE for c in contacts)

    (case,) = stored(services, Case)
    (escalation,) = stored(services, CaseEvent, CaseEvent.action == "escalate")
    assert case.status is CaseStatus.ESCALATED and escalation.data["to_unit"] == "intake_center"
    (entry,) = stored(services, AccountabilityEntry)
    assert (entry.kind, entry.person_name, entry.case_id) == ("breach", "陈志明", case.id)
    assert entry.department_id == unit_id(services, "civil_affairs")
    assert entry.data["hours_overdue"] == 5 and entry.data["level"] == "red"
    assert entry.data["escalated_to"] == "intake_center"
    deliveries = [args for name, args in queued_jobs(services.redis) if "deliver" in name]
    assert sorted(deliveries) == sorted((m.id,) for m in messages)


def test_second_run_sends_nothing_more(red_case: Case, services: Services) -> None:
    """Running the same chunk again adds no message, escalation or entry."""
    handle_breaches([red_case.id], now=NOW)
    again = handle_breaches([red_case.id], now=NOW + HOUR)
    assert (again.alerted, again.already, again.messages, again.escalated) == (0, 1, 0, 0)
    assert count(services, Message) == 2
    assert count(services, AccountabilityEntry) == 1
    assert len(stored(services, CaseEvent, CaseEvent.action == "escalate")) == 1


def test_messages_left_queued_are_queued_for_delivery_again(
    red_case: Case, services: Services
) -> None:
    """If deliveries were lost with the queue, a rerun queues the waiting messages again."""
    handle_breaches([red_case.id], now=NOW)
    services.redis.flushall()
    handle_breaches([red_case.id], now=NOW)
    assert len([n for n, _ in queued_jobs(services.redis) if "deliver" in n]) == 2


def test_top_of_chain_is_recorded_without_escalation(
    demo_session: Session, services: Services
) -> None:
    """A red case at the county intake desk cannot go higher; the entry says so."""
    add_case(demo_session, "intake_center", number="202611200002", due_at=NOW - 2 * HOUR)
    sweep_deadlines(NOW)
    (case,) = stored(services, Case)
    result = handle_breaches([case.id], now=NOW)
    assert (result.alerted, result.escalated, result.messages) == (1, 0, 2)
    (entry,) = stored(services, AccountabilityEntry)
    assert entry.data["escalated_to"] is None and "top" in entry.data["not_escalated"]
    assert stored(services, Case)[0].status is CaseStatus.IN_PROGRESS


def test_town_office_without_leader_alerts_the_town_leader(
    demo_session: Session, services: Services
) -> None:
    """A town office has no county leader of its own: its town's leader is told instead."""
    add_case(demo_session, "chengguan.urban", number="202611200003", due_at=NOW - HOUR / 2)
    sweep_deadlines(NOW)
    (case,) = stored(services, Case)
    handle_breaches([case.id], now=NOW)
    messages = stored(services, Message)
    contacts = stored(services, Contact, Contact.id.in_([m.contact_id for m in messages]))
    assert {c.phone for c in contacts} == {"+8613900010107", "+8613900010000"}
    assert "已超期不足1小时" in messages[0].body
    assert stored(services, Case)[0].department_id == unit_id(services, "urban_management")


def test_english_speaking_recipient_gets_english(red_case: Case, services: Services) -> None:
    """A head whose contact is set to English gets the English text with English names."""
    with services.sessions() as session:
        session.add(Contact(kind=AddressKind.PHONE, address=HEAD, phone=HEAD, language="en"))
        session.commit()
    handle_breaches([red_case.id], now=NOW)
    bodies = {m.body for m in stored(services, Message)}
    assert (
        "[Zhitong] RED, overdue: case 202611200001 (Broken street lights, Dongmen Community) "
        "is 5 h past its deadline. Please act now. Handling unit: Qingxi County Civil Affairs "
        "Bureau"
    ) in bodies


def test_case_resolved_before_the_job_is_skipped(red_case: Case, services: Services) -> None:
    """A case no longer red or running when its job runs gets no alert."""
    with services.sessions() as session:
        found = session.get(Case, red_case.id)
        assert found is not None
        found.status = CaseStatus.RESOLVED
        session.commit()
    result = handle_breaches([red_case.id], now=NOW)
    assert (result.skipped, count(services, Message), count(services, AccountabilityEntry)) == (
        1,
        0,
        0,
    )


def test_extended_deadline_missed_again_is_a_new_breach(red_case: Case, services: Services) -> None:
    """A deadline moved and missed again turns red anew and is alerted anew."""
    handle_breaches([red_case.id], now=NOW)
    with services.sessions() as session:
        found = session.get(Case, red_case.id)
        assert found is not None
        found.due_at, found.warning_level = NOW + HOUR, WarningLevel.NONE
        found.yellow_at = found.orange_at = NOW + HOUR / 2
        session.commit()
    later = NOW + 3 * HOUR
    assert sweep_deadlines(later).red == 1
    result = handle_breaches([red_case.id], now=later)
    assert (result.alerted, result.messages) == (1, 2)
    assert count(services, AccountabilityEntry) == 2


def unit_id(services: Services, code: str) -> int:
    """The id of a demo unit."""
    with services.sessions() as session:
        return unit(session, code).id


# ---------------------------------------------------------------------------------------------
# Late 签收


FRIDAY_MORNING = shanghai(2026, 11, 20, 10, 0)


@pytest.mark.parametrize(
    ("dispatched", "deadline"),
    [
        # Friday → end of Monday; after hours on Friday still counts from Friday.
        (FRIDAY_MORNING, shanghai(2026, 11, 23, 17, 30)),
        (
            dt.datetime(2026, 11, 20, 21, 0, tzinfo=SHANGHAI),
            shanghai(2026, 11, 23, 17, 30),
        ),
        # Saturday (no working day) → end of Monday, the next working day.
        (
            dt.datetime(2026, 11, 21, 9, 0, tzinfo=SHANGHAI),
            shanghai(2026, 11, 23, 17, 30),
        ),
        # National Day: 30 September → end of 8 October (1–7 October are holidays).
        (
            dt.datetime(2026, 9, 30, 9, 0, tzinfo=SHANGHAI),
            dt.datetime(2026, 10, 8, 17, 30, tzinfo=SHANGHAI),
        ),
    ],
)
def test_sign_deadline_is_end_of_next_working_day(
    clock: Clock, dispatched: dt.datetime, deadline: dt.datetime
) -> None:
    """签收 is due by the end of office on the next working day after the day of dispatch."""
    assert sign_deadline(dispatched, clock) == deadline


@pytest.mark.parametrize(
    "now",
    [
        NOW,
        shanghai(2026, 11, 23, 17, 30),
        shanghai(2026, 11, 23, 17, 31),
        shanghai(2026, 11, 22, 12, 0),
        shanghai(2026, 10, 9, 18, 0),
    ],
)
def test_unsigned_cutoff_splits_late_dispatches(clock: Clock, now: dt.datetime) -> None:
    """Dispatches before the cutoff are late at `now`; those from it on are not."""
    cutoff = unsigned_cutoff(now, clock)
    assert sign_deadline(cutoff - dt.timedelta(seconds=1), clock) < now
    assert sign_deadline(cutoff, clock) >= now


def test_unsigned_dispatch_alerts_the_head_once(demo_session: Session, services: Services) -> None:
    """A dispatch not signed for in time: one SMS to the head, one entry; a rerun adds nothing."""
    add_case(
        demo_session,
        "chengguan.urban",
        number="202611200004",
        due_at=NOW + 72 * HOUR,
        status=CaseStatus.DISPATCHED,
        dispatched_at=FRIDAY_MORNING,
    )
    tuesday = shanghai(2026, 11, 24, 9, 0)
    assert sweep_deadlines(tuesday).unsigned == 1
    (case,) = stored(services, Case)
    first = handle_unsigned([case.id], now=tuesday)
    second = handle_unsigned([case.id], now=tuesday)
    assert (first.alerted, first.messages, second.already, second.messages) == (1, 1, 1, 0)
    (message,) = stored(services, Message)
    assert message.body == (
        "【直通】签收超时：工单202611200004（路灯不亮，东门社区）已于11月20日10:00交办，"
        "至今未签收，请立即签收办理。承办单位：城关城市管理中队"
    )
    (contact,) = stored(services, Contact)
    assert contact.phone == "+8613900010107"
    (entry,) = stored(services, AccountabilityEntry)
    assert (entry.kind, entry.person_name) == ("unsigned", "陈海波")
    assert entry.data["event_id"] == message.event_id
    assert sweep_deadlines(tuesday).unsigned == 0


def test_dispatch_not_yet_late_or_signed_is_not_alerted(
    demo_session: Session, services: Services
) -> None:
    """Before its deadline, or once signed for, a dispatch gets no alert."""
    add_case(
        demo_session,
        "chengguan.urban",
        number="202611200005",
        due_at=NOW + 72 * HOUR,
        status=CaseStatus.DISPATCHED,
        dispatched_at=FRIDAY_MORNING,
    )
    assert sweep_deadlines(NOW).unsigned == 0  # Monday 10:00: due by Monday 17:30
    (case,) = stored(services, Case)
    assert handle_unsigned([case.id], now=NOW).skipped == 1
    assert count(services, Message) == 0


def test_dispatched_again_is_alerted_again(demo_session: Session, services: Services) -> None:
    """Each dispatch is its own 签收 deadline: a new dispatch late again is alerted again."""
    add_case(
        demo_session,
        "chengguan.urban",
        number="202611200006",
        due_at=NOW + 200 * HOUR,
        status=CaseStatus.DISPATCHED,
        dispatched_at=FRIDAY_MORNING,
    )
    (case,) = stored(services, Case)
    tuesday = shanghai(2026, 11, 24, 9, 0)
    handle_unsigned([case.id], now=tuesday)
    with services.sessions() as session:
        found = session.get(Case, case.id)
        assert found is not None
        found.dispatched_at = tuesday + 2 * HOUR  # returned and dispatched again
        session.commit()
    thursday = shanghai(2026, 11, 26, 9, 0)
    assert sweep_deadlines(thursday).unsigned == 1
    assert handle_unsigned([case.id], now=thursday).alerted == 1
    assert count(services, AccountabilityEntry) == 2


# ---------------------------------------------------------------------------------------------
# Texts


# The values the code fills each staff text with.
TEXT_VALUES = {
    "breach": {"number", "detail", "overdue", "unit"},
    "unsigned": {"number", "detail", "dispatched", "unit"},
    "digest": {"date", "unit", "red", "orange", "yellow", "worst"},
    "digest_worst": {"numbers"},
    "detail": {"matter", "place"},
    "list_separator": set(),
    "overdue_hours": {"hours"},
    "overdue_under_hour": set(),
    "day": {"year", "month", "day", "hour", "minute"},
    "moment": {"year", "month", "day", "hour", "minute"},
    "dissatisfied": {"number", "detail", "rating", "due", "unit"},  # worker.surveys
    "rating_4": set(),
    "rating_5": set(),
}


def test_staff_texts_ask_only_for_values_the_code_gives() -> None:
    """Every staff text has zh and en, and neither asks for a value that is not filled in."""
    texts = staff_texts()
    assert set(texts) == set(TEXT_VALUES)
    for key, text in texts.items():
        assert placeholders(text.zh) <= TEXT_VALUES[key], key
        assert placeholders(text.en) <= TEXT_VALUES[key], key
    for key in ("breach", "unsigned", "digest", "dissatisfied"):
        assert placeholders(texts[key].zh) == placeholders(texts[key].en) == TEXT_VALUES[key]


def test_example_breach_text_renders_exactly() -> None:
    """The breach SMS of the issue's example comes out word for word."""
    assert breach.staff_text(
        "breach",
        "zh",
        number="202611220017",
        detail="路灯不亮，东门社区",
        overdue="5小时",
        unit="城关镇便民服务中心",
    ) == (
        "【直通】红灯超期：工单202611220017（路灯不亮，东门社区）已超期5小时，请立即处理。"
        "承办单位：城关镇便民服务中心"
    )
