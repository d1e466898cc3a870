"""Opening, escalating and dispatching cases; case-number allocation on both databases."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cases.clock import Clock
from cases.exceptions import NotFoundError, RoutingError, TransitionError
from cases.lifecycle import ActionContext, Actor, perform
from cases.models import Agent, Area, Case, CaseEvent, CaseNumberCounter, Department
from cases.models.cases import ActorType, CaseKind, CaseStatus, HandlingKind
from cases.models.messaging import Channel
from cases.numbers import allocate_case_number
from cases.service import Intake, category_name, dispatch_case, escalate_case, open_case
from intents.catalog import CatalogItem, catalog

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(
    2026, 10, 9, 10, 0, tzinfo=SHANGHAI
)  # Friday; Saturday 10-10 is a 调休 working day


def first_item(**wanted: object) -> CatalogItem:
    """The first catalog item with the given attribute values."""
    return next(
        item for item in catalog().items if all(getattr(item, k) == v for k, v in wanted.items())
    )


def urgent_capable() -> CatalogItem:
    """A concern that can be marked urgent."""
    return next(item for item in catalog().items if item.urgent_hours)


def area_id(session: Session, code: str) -> int:
    """The id of a demo area."""
    return session.scalars(select(Area.id).where(Area.code == code)).one()


def unit(session: Session, code: str) -> Department:
    """A demo unit by code."""
    return session.scalars(select(Department).where(Department.code == code)).one()


def intake(
    session: Session,
    item: CatalogItem,
    place: str | None = "chengguan.dongmen.g1",
    **values: object,
) -> Intake:
    """A bot intake of `item` from a demo place."""
    fields: dict[str, object] = {
        "item_code": item.code,
        "description": "小区门口路灯坏了三天",
        "channel": Channel.SMS,
        "area_id": area_id(session, place) if place else None,
        "confidence": 0.92,
    }
    fields.update(values)
    return Intake(**fields)  # type: ignore[arg-type]


def actions(case: Case) -> list[tuple[str, CaseStatus | None, CaseStatus | None]]:
    """The case's events as (action, from, to)."""
    return [(event.action, event.from_status, event.to_status) for event in case.events]


def test_confident_case_is_accepted_at_once(demo_session: Session, clock: Clock) -> None:
    """A case the bot is sure of gets a number, a unit, a summary and is accepted (已受理)."""
    item = first_item(level="village", handling="promised")
    long = "路灯" * 150
    case = open_case(
        demo_session, intake(demo_session, item, description=long), now=NOW, clock=clock
    )
    demo_session.commit()
    assert case.number == "202610090001"
    assert (case.summary, case.description) == (long[:200], long)  # summary defaults to description
    assert case.status is CaseStatus.ACCEPTED
    assert case.needs_review is False
    assert actions(case) == [
        ("create", CaseStatus.NEW, CaseStatus.NEW),
        ("accept", CaseStatus.NEW, CaseStatus.ACCEPTED),
    ]
    assert [event.actor_type for event in case.events] == [ActorType.BOT, ActorType.BOT]
    assert case.events[1].visible_to_resident is True
    assert case.department_id == unit(demo_session, "chengguan.dongmen.committee").id
    assert case.town_id == area_id(demo_session, "chengguan")
    assert (case.item_code, case.category_code, case.kind) == (
        item.code,
        item.category,
        CaseKind(item.kind),
    )
    assert case.events[0].data == {"unit": "chengguan.dongmen.committee"}


def test_deadline_is_stored(demo_session: Session, clock: Clock) -> None:
    """The promised date and thresholds are written with the case and read back aware."""
    item = first_item(handling="promised", level="county")
    days = item.time_limit.working_days
    assert days
    case = open_case(demo_session, intake(demo_session, item), now=NOW, clock=clock)
    demo_session.commit()
    demo_session.expire_all()
    stored = demo_session.get(Case, case.id)
    assert stored is not None and stored.due_at is not None
    due_day = clock.calendar.add_working_days(NOW.date(), days)
    assert stored.due_at == dt.datetime.combine(due_day, dt.time(17, 30), SHANGHAI)
    assert stored.yellow_at is not None and stored.orange_at is not None
    assert NOW < stored.yellow_at < stored.orange_at < stored.due_at
    assert stored.handling is HandlingKind.PROMISED
    assert stored.received_at == NOW


# (bot confidence, needs review): below 0.6 a person checks the case first; None is an agent.
CONFIDENCE = [(0.59, True), (0.6, False), (0.0, True), (0.99, False), (None, False)]


def test_low_confidence_waits_for_review(demo_session: Session, clock: Clock) -> None:
    """Below 0.6 the case stays new with needs_review; only the creation is recorded."""
    item = first_item(level="county")
    for confidence, reviewed in CONFIDENCE:
        case = open_case(
            demo_session, intake(demo_session, item, confidence=confidence), now=NOW, clock=clock
        )
        assert case.needs_review is reviewed, confidence
        assert case.status is (CaseStatus.NEW if reviewed else CaseStatus.ACCEPTED)
        assert [event.action for event in case.events] == (
            ["create"] if reviewed else ["create", "accept"]
        )
        assert case.confidence == confidence


def test_unknown_place_waits_for_review_at_intake_desk(demo_session: Session, clock: Clock) -> None:
    """A village or town matter with no known place stays new, at the intake desk."""
    item = first_item(level="village")
    case = open_case(demo_session, intake(demo_session, item, place=None), now=NOW, clock=clock)
    assert (case.status, case.needs_review) == (CaseStatus.NEW, True)
    assert case.department_id == unit(demo_session, "intake_center").id
    assert (case.area_id, case.town_id) == (None, None)


def test_agent_registered_case_is_accepted(demo_session: Session, clock: Clock) -> None:
    """A walk-in case registered by an agent is accepted at once and records who made it."""
    agent = demo_session.scalars(select(Agent).where(Agent.username == "town_chengguan")).one()
    actor = Actor(ActorType.AGENT, id=agent.id, name=agent.display_name)
    item = first_item(level="town")
    registered = intake(demo_session, item, confidence=None, channel=Channel.WALK_IN)
    case = open_case(demo_session, registered, now=NOW, clock=clock, actor=actor)
    demo_session.commit()
    assert case.status is CaseStatus.ACCEPTED
    assert case.created_by_agent_id == agent.id
    assert {event.actor_id for event in case.events} == {agent.id}


def test_handling_sets_the_clock(demo_session: Session, clock: Clock) -> None:
    """即办件 due today; an urgent concern due urgent_hours later; no urgent_hours, no urgency."""
    immediate = open_case(
        demo_session, intake(demo_session, first_item(handling="immediate")), now=NOW, clock=clock
    )
    assert immediate.handling is HandlingKind.IMMEDIATE
    assert immediate.due_at == NOW.replace(hour=17, minute=30)

    item = urgent_capable()
    assert item.urgent_hours
    evening = NOW.replace(hour=22)
    urgent = open_case(
        demo_session, intake(demo_session, item, urgent=True), now=evening, clock=clock
    )
    assert (urgent.handling, urgent.urgent) == (HandlingKind.URGENT, True)
    assert urgent.due_at == evening + dt.timedelta(hours=item.urgent_hours)

    plain = next(entry for entry in catalog().items if not entry.urgent_hours)
    flagged = open_case(
        demo_session, intake(demo_session, plain, urgent=True), now=NOW, clock=clock
    )
    assert (flagged.handling, flagged.urgent) == (HandlingKind(plain.handling), True)


def test_unknown_item_not_found(session: Session, clock: Clock) -> None:
    """An item code that is not in the catalog is a NotFoundError."""
    bad = Intake(item_code="fly_to_the_moon", description="x", channel=Channel.SMS)
    with pytest.raises(NotFoundError, match="fly_to_the_moon"):
        open_case(session, bad, now=NOW, clock=clock)


def test_unknown_area_not_found(session: Session, clock: Clock) -> None:
    """An area id that does not exist is a NotFoundError."""
    bad = Intake(item_code=first_item().code, description="x", channel=Channel.SMS, area_id=999_999)
    with pytest.raises(NotFoundError, match="999999"):
        open_case(session, bad, now=NOW, clock=clock)


def test_numbers_follow_local_day(demo_session: Session, clock: Clock) -> None:
    """Numbers count up within the county's local day and restart after local midnight."""
    item = first_item(level="county")
    times = [NOW, NOW.replace(hour=23, minute=30), dt.datetime(2026, 10, 9, 16, 30, tzinfo=dt.UTC)]
    numbers = [
        open_case(demo_session, intake(demo_session, item), now=t, clock=clock).number
        for t in times
    ]
    assert numbers == ["202610090001", "202610090002", "202610100001"]


def stored_case(
    session: Session,
    status: CaseStatus,
    owner: str,
    item: CatalogItem,
    number: str = "202610090001",
) -> Case:
    """A committed case of `item` from 东门社区第一网格, owned by the unit `owner`."""
    case = Case(
        number=number,
        item_code=item.code,
        category_code=item.category,
        kind=CaseKind(item.kind),
        handling=HandlingKind(item.handling),
        channel=Channel.SMS,
        status=status,
        area_id=area_id(session, "chengguan.dongmen.g1"),
        town_id=area_id(session, "chengguan"),
        department_id=unit(session, owner).id,
        received_at=NOW,
        due_at=NOW + dt.timedelta(days=3),
    )
    session.add(case)
    session.commit()
    return case


@pytest.fixture
def village_case(demo_session: Session) -> Case:
    """A committed, accepted case of a village-level item owned by 东门社区居委会."""
    item = first_item(level="village")
    return stored_case(demo_session, CaseStatus.ACCEPTED, "chengguan.dongmen.committee", item)


def test_escalate_moves_case_up(demo_session: Session, clock: Clock, village_case: Case) -> None:
    """上报 moves the case to the unit one level up and records both units."""
    event = escalate_case(
        demo_session,
        village_case,
        Actor(ActorType.AGENT, name="翁鹏"),
        ActionContext(NOW, clock),
        "需镇里协调",
    )
    demo_session.commit()
    assert village_case.status is CaseStatus.ESCALATED
    assert village_case.escalation_count == 1
    target = unit(demo_session, "chengguan.dongmen.committee")
    assert village_case.department_id != target.id
    owner = demo_session.get(Department, village_case.department_id)
    assert owner is not None and owner.level.value == "town" and owner.area.code == "chengguan"
    assert event.data == {"from_unit": "chengguan.dongmen.committee", "to_unit": owner.code}
    assert (event.note, event.from_status, event.to_status) == (
        "需镇里协调",
        CaseStatus.ACCEPTED,
        CaseStatus.ESCALATED,
    )


def test_escalate_twice_reaches_county(
    demo_session: Session, clock: Clock, village_case: Case
) -> None:
    """After dispatching back down, a second escalation reaches the county department."""
    context = ActionContext(NOW, clock)
    escalate_case(demo_session, village_case, Actor(ActorType.SYSTEM), context)
    town_unit = demo_session.get(Department, village_case.department_id)
    assert town_unit is not None
    dispatch_case(demo_session, village_case, Actor(ActorType.SYSTEM), context, town_unit)
    escalate_case(demo_session, village_case, Actor(ActorType.SYSTEM), context)
    demo_session.commit()
    item = catalog().item(village_case.item_code)
    assert demo_session.get(Department, village_case.department_id).code == item.department  # type: ignore[union-attr]
    assert village_case.escalation_count == 2


def test_escalate_refused(demo_session: Session, clock: Clock) -> None:
    """A new case cannot be escalated, nor one at the intake desk; neither changes."""
    context = ActionContext(NOW, clock)
    new = stored_case(
        demo_session, CaseStatus.NEW, "chengguan.dongmen.committee", first_item(level="village")
    )
    owner = new.department_id
    with pytest.raises(TransitionError):
        escalate_case(demo_session, new, Actor(ActorType.SYSTEM), context)
    assert (new.department_id, new.status) == (owner, CaseStatus.NEW)
    demo_session.rollback()

    county_item = first_item(level="county")
    at_desk = stored_case(
        demo_session, CaseStatus.IN_PROGRESS, "intake_center", county_item, "202610090002"
    )
    with pytest.raises(RoutingError, match="top"):
        escalate_case(demo_session, at_desk, Actor(ActorType.SYSTEM), context)
    assert at_desk.status is CaseStatus.IN_PROGRESS


def test_dispatch_to_unit_and_agent(
    demo_session: Session, clock: Clock, village_case: Case
) -> None:
    """交办 sends the case to a unit and a named handler, waiting for 签收."""
    handler = demo_session.scalars(select(Agent).where(Agent.username == "handler_justice")).one()
    department = unit(demo_session, "justice")
    event = dispatch_case(
        demo_session,
        village_case,
        Actor(ActorType.AGENT, name="黄晓玲"),
        ActionContext(NOW, clock),
        department,
        handler.id,
    )
    demo_session.commit()
    assert village_case.status is CaseStatus.DISPATCHED
    assert (village_case.department_id, village_case.assignee_id) == (department.id, handler.id)
    assert village_case.dispatched_at == NOW
    assert event.data == {"to_unit": "justice", "assignee_id": handler.id}
    stored = demo_session.scalars(
        select(CaseEvent.action).where(CaseEvent.case_id == village_case.id).order_by(CaseEvent.id)
    )
    assert list(stored) == ["dispatch"]


def test_category_name() -> None:
    """Category codes are shown by their Chinese name; unknown codes as themselves."""
    assert category_name("urban_rural") == "城乡管理"
    assert category_name("nonexistent") == "nonexistent"


# Case-number allocation (cases/numbers.py); the multi-process race is in test_numbers_race.py.


# (days of receipt in order, numbers expected): per-day counters, leading zeros kept.
ALLOCATIONS = [
    ([dt.date(2026, 11, 22)], ["202611220001"]),
    ([dt.date(2026, 11, 22)] * 2, ["202611220002", "202611220003"]),
    (
        [dt.date(2026, 11, 23), dt.date(2026, 11, 22), dt.date(2026, 11, 23)],
        ["202611230001", "202611220004", "202611230002"],
    ),
    ([dt.date(2027, 1, 1)], ["202701010001"]),
]


def test_allocate_case_number(session: Session) -> None:
    """Numbers count up per day, restart each day and keep their leading zeros (table above)."""
    for days, expected in ALLOCATIONS:
        assert [allocate_case_number(session, day) for day in days] == expected
    session.commit()


def test_allocation_survives_commit(session: Session) -> None:
    """The counter is stored: a later transaction continues from it."""
    allocate_case_number(session, dt.date(2026, 11, 22))
    session.commit()
    assert allocate_case_number(session, dt.date(2026, 11, 22)) == "202611220002"
    session.commit()
    assert session.get(CaseNumberCounter, "20261122").last == 2  # type: ignore[union-attr]


def test_rolled_back_number_leaves_a_gap_at_most(session: Session) -> None:
    """A rolled-back allocation is simply not used; numbers never repeat."""
    allocate_case_number(session, dt.date(2026, 11, 22))
    session.commit()
    allocate_case_number(session, dt.date(2026, 11, 22))
    session.rollback()
    assert allocate_case_number(session, dt.date(2026, 11, 22)) == "202611220002"


def test_sequence_grows_past_9999(session: Session) -> None:
    """After 9999 the sequence grows a digit instead of wrapping."""
    allocate_case_number(session, dt.date(2026, 11, 22))
    session.execute(
        update(CaseNumberCounter).where(CaseNumberCounter.day == "20261122").values(last=9999)
    )
    session.commit()
    number = allocate_case_number(session, dt.date(2026, 11, 22))
    assert number == "2026112210000"
    assert re.fullmatch(r"\d{13}", number)


def test_text_with_nul_and_broken_unicode_is_stored_not_refused(
    demo_session: Session, clock: Clock
) -> None:
    """A pasted description with NUL and a lone surrogate opens a case (PostgreSQL refuses NUL)."""
    item = first_item(level="village", handling="promised")
    hostile = "路灯\x00坏了\ud800三天"
    case = open_case(
        demo_session, intake(demo_session, item, description=hostile), now=NOW, clock=clock
    )
    event = perform(
        case,
        "note",
        Actor(ActorType.AGENT, None, "测试"),
        ActionContext(NOW, clock),
        note="\x00已核实",
    )
    demo_session.add(event)
    demo_session.commit()
    demo_session.expire_all()
    assert case.description == case.summary == "路灯坏了?三天"
    assert event.note == "已核实"
