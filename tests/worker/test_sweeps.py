"""The deadline sweep: exact levels, set-based, once per level, red handed on in chunks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cases.clock import warning_level
from cases.lifecycle import CLOCK_RUNNING
from cases.models import AccountabilityEntry, Case, CaseEvent, Message
from cases.models.cases import CaseStatus, WarningLevel
from cases.models.messaging import MessageStatus
from cases.settings import load_settings
from tests.fixtures.fake_twilio import FakeTwilio, running_fake_twilio
from tests.worker.test_breach import (
    HOUR,
    NOW,
    add_case,
    count,
    install_services,
    queued_jobs,
    stored,
)
from worker import delivery, sweeps
from worker.breach import BREACH_JOB, UNSIGNED_JOB, handle_breaches
from worker.queue import POLICIES, get_queue
from worker.runtime import Services
from worker.senders import TwilioSender
from worker.sweeps import sweep_deadlines

S, L = CaseStatus, WarningLevel
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def services(engine: Engine, tmp_path: Path) -> Iterator[Services]:
    """Runtime services on the test database with a private in-memory Redis."""
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield install_services(engine, redis, load_settings(instance_path=tmp_path))


# (name, status, stored level, yellow_at, orange_at, due_at, paused, level after the sweep)
Clock = tuple[
    str,
    CaseStatus,
    WarningLevel,
    dt.timedelta,
    dt.timedelta,
    dt.timedelta | None,
    bool,
    WarningLevel,
]
CLOCKS: list[Clock] = [
    ("fresh", S.ACCEPTED, L.NONE, +HOUR, +2 * HOUR, +3 * HOUR, False, L.NONE),
    ("at yellow", S.IN_PROGRESS, L.NONE, 0 * HOUR, +HOUR, +2 * HOUR, False, L.YELLOW),
    ("yellow", S.IN_PROGRESS, L.NONE, -HOUR, +HOUR, +2 * HOUR, False, L.YELLOW),
    ("yellow stored", S.IN_PROGRESS, L.YELLOW, -HOUR, +HOUR, +2 * HOUR, False, L.YELLOW),
    ("at orange", S.DISPATCHED, L.YELLOW, -HOUR, 0 * HOUR, +HOUR, False, L.ORANGE),
    ("orange from none", S.IN_PROGRESS, L.NONE, -2 * HOUR, -HOUR, +HOUR, False, L.ORANGE),
    ("due this instant", S.IN_PROGRESS, L.NONE, -2 * HOUR, -HOUR, 0 * HOUR, False, L.ORANGE),
    ("just overdue", S.IN_PROGRESS, L.ORANGE, -3 * HOUR, -HOUR, -SECOND, False, L.RED),
    ("red from none", S.ACCEPTED, L.NONE, -9 * HOUR, -8 * HOUR, -7 * HOUR, False, L.RED),
    ("red stored", S.IN_PROGRESS, L.RED, -9 * HOUR, -8 * HOUR, -7 * HOUR, False, L.RED),
    ("new, awaiting review", S.NEW, L.NONE, -3 * HOUR, -2 * HOUR, -HOUR, False, L.RED),
    ("escalated", S.ESCALATED, L.YELLOW, -3 * HOUR, -2 * HOUR, -HOUR, False, L.RED),
    ("reopened", S.REOPENED, L.NONE, -HOUR, +HOUR, +2 * HOUR, False, L.YELLOW),
    ("paused 待补办", S.AWAITING_MATERIALS, L.NONE, -9 * HOUR, -8 * HOUR, -7 * HOUR, True, L.NONE),
    ("paused, status lags", S.IN_PROGRESS, L.YELLOW, -9 * HOUR, -8 * HOUR, -HOUR, True, L.YELLOW),
    ("resolved", S.RESOLVED, L.NONE, -9 * HOUR, -8 * HOUR, -7 * HOUR, False, L.NONE),
    ("closed", S.CLOSED, L.ORANGE, -9 * HOUR, -8 * HOUR, -7 * HOUR, False, L.ORANGE),
    ("no deadline", S.ACCEPTED, L.NONE, -9 * HOUR, -8 * HOUR, None, False, L.NONE),
]


def add_clocks(session: Session) -> dict[str, int]:
    """Commit one case per row of CLOCKS; their ids by name."""
    ids = {}
    for index, (name, status, level, yellow, orange, due, paused, _) in enumerate(CLOCKS):
        case = add_case(
            session,
            "civil_affairs",
            number=f"2026112000{index:02d}",
            status=status,
            level=level,
            yellow_at=NOW + yellow,
            orange_at=NOW + orange,
            due_at=NOW + due if due is not None else None,
            paused_at=NOW - 10 * HOUR if paused else None,
        )
        ids[name] = case.id
    return ids


def levels(services: Services) -> dict[int, WarningLevel]:
    """Every case's stored level by id."""
    return {case.id: case.warning_level for case in stored(services, Case)}


def test_sweep_sets_exact_levels(demo_session: Session, services: Services) -> None:
    """Each case ends at the level its clock has reached; paused and finished cases stay."""
    ids = add_clocks(demo_session)
    result = sweep_deadlines(NOW)
    after = levels(services)
    assert {name: after[ids[name]] for name in ids} == {row[0]: row[7] for row in CLOCKS}
    assert (result.yellow, result.orange, result.red) == (3, 3, 4)


def test_sweep_agrees_with_the_clock(demo_session: Session, services: Services) -> None:
    """For every running case the stored level is the clock's `warning_level` at that moment."""
    add_clocks(demo_session)
    sweep_deadlines(NOW)
    for case in stored(services, Case):
        if case.status in CLOCK_RUNNING and case.paused_at is None:
            expected = warning_level(NOW, case.due_at, case.yellow_at, case.orange_at)
            assert case.warning_level is expected, case.number


def test_each_change_is_one_hidden_warn_event(demo_session: Session, services: Services) -> None:
    """A changed case gets one "warn" event with its level, not shown to the resident."""
    ids = add_clocks(demo_session)
    result = sweep_deadlines(NOW)
    events = stored(services, CaseEvent)
    assert len(events) == result.changed
    assert all(e.action == "warn" and e.visible_to_resident is False for e in events)
    by_case = {e.case_id: e for e in events}
    assert by_case[ids["just overdue"]].data == {"level": "red"}
    assert by_case[ids["at orange"]].data == {"level": "orange"}
    assert by_case[ids["at yellow"]].data == {"level": "yellow"}
    assert by_case[ids["escalated"]].from_status is S.ESCALATED
    assert ids["red stored"] not in by_case and ids["paused 待补办"] not in by_case


def test_second_sweep_changes_nothing(demo_session: Session, services: Services) -> None:
    """Right after a sweep, another one changes no case and writes no event."""
    add_clocks(demo_session)
    sweep_deadlines(NOW)
    before, events = levels(services), count(services, CaseEvent)
    again = sweep_deadlines(NOW)
    assert (again.changed, again.jobs) == (0, 0)
    assert levels(services) == before and count(services, CaseEvent) == events


def test_later_sweep_moves_cases_on(demo_session: Session, services: Services) -> None:
    """As time passes the same cases move up one level at a time, each level once."""
    ids = add_clocks(demo_session)
    sweep_deadlines(NOW)
    later = sweep_deadlines(NOW + 2 * HOUR + SECOND)
    after = levels(services)
    assert after[ids["fresh"]] is L.ORANGE and after[ids["yellow"]] is L.RED
    events = stored(services, CaseEvent, CaseEvent.case_id == ids["at orange"])
    assert [e.data["level"] for e in events] == ["orange", "red"]
    assert later.changed == count(services, CaseEvent) - 10


def test_red_cases_go_to_breach_jobs_in_chunks(
    demo_session: Session, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Red cases are handed on by id, a few per job, on the default queue; nothing is sent."""
    monkeypatch.setattr(sweeps, "CHUNK", 3)
    ids = add_clocks(demo_session)
    result = sweep_deadlines(NOW)
    jobs = queued_jobs(services.redis)
    assert [name for name, _ in jobs] == [BREACH_JOB, BREACH_JOB]
    handed = [case_id for _, (chunk,) in jobs for case_id in chunk]  # type: ignore[attr-defined]
    red = ["just overdue", "red from none", "new, awaiting review", "escalated"]
    assert sorted(handed) == sorted(ids[name] for name in red)
    assert [len(chunk) for _, (chunk,) in jobs] == [3, 1]  # type: ignore[arg-type]
    assert result.jobs == 2 and count(services, Message) == 0


def test_backlog_moves_in_batches_with_the_same_result(
    demo_session: Session, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moved a couple of cases per transaction, a backlog ends exactly as in one go."""
    monkeypatch.setattr(sweeps, "BATCH", 2)
    ids = add_clocks(demo_session)
    result = sweep_deadlines(NOW)
    after = levels(services)
    assert {name: after[ids[name]] for name in ids} == {row[0]: row[7] for row in CLOCKS}
    assert (result.changed, count(services, CaseEvent)) == (10, 10)
    assert result.jobs == 2  # the four red cases, queued as each batch of two committed


def test_red_cases_lost_with_the_queue_are_handed_on_again(
    demo_session: Session, services: Services
) -> None:
    """If Redis loses its data (queued breach jobs too), the next sweep queues them again."""
    add_case(demo_session, "civil_affairs", number="202611200001", due_at=NOW - HOUR)
    assert sweep_deadlines(NOW).red == 1
    assert sweep_deadlines(NOW + 5 * MINUTE).recovered == 0  # handed off: nothing to redo
    services.redis.flushall()
    assert sweep_deadlines(NOW + 10 * MINUTE).recovered == 1
    ((_, (chunk,)),) = queued_jobs(services.redis)
    handle_breaches(list(chunk), now=NOW + 11 * MINUTE)  # type: ignore[call-overload]
    assert count(services, AccountabilityEntry) == 1
    services.redis.flushall()
    assert sweep_deadlines(NOW + 15 * MINUTE).recovered == 0  # recorded: nothing to redo


def test_failed_hand_off_is_redone_by_the_next_sweep(
    demo_session: Session, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep that committed but could not queue its breach jobs is made good by the next."""
    add_case(demo_session, "civil_affairs", number="202611200001", due_at=NOW - HOUR)

    def unavailable(*args: object, **kwargs: object) -> None:
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(sweeps, "enqueue", unavailable)
    with pytest.raises(ConnectionError):
        sweep_deadlines(NOW)
    monkeypatch.undo()
    again = sweep_deadlines(NOW + 5 * MINUTE)
    assert (again.red, again.recovered, again.jobs) == (0, 1, 1)


def test_sweeps_do_not_overlap(demo_session: Session, services: Services) -> None:
    """While one sweep runs, another one started by the scheduler does nothing."""
    add_case(demo_session, "civil_affairs", number="202611200001", due_at=NOW - HOUR)
    running = services.redis.lock(sweeps.LOCK_KEY, timeout=60)
    assert running.acquire(blocking=False)
    assert sweep_deadlines(NOW).skipped is True
    running.release()
    assert sweep_deadlines(NOW).red == 1


def test_sweep_is_idle_on_an_empty_database(services: Services) -> None:
    """With no cases a sweep does nothing and says so."""
    result = sweep_deadlines(NOW)
    assert (result.changed, result.jobs, result.unsigned, result.recovered) == (0, 0, 0, 0)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A recording Twilio API on loopback."""
    with running_fake_twilio() as fake:
        yield fake


def test_sweep_breach_and_delivery_on_real_redis(
    engine: Engine,
    demo_session: Session,
    tmp_path: Path,
    redis_url: str,
    fake_twilio: FakeTwilio,
) -> None:
    """Real Redis: the sweep queues breach jobs, a worker runs them, 2 SMS per case go out."""
    settings = load_settings(
        instance_path=tmp_path,
        twilio_account_sid="AC" + "3" * 32,
        twilio_auth_token="token",
        twilio_from="+8610690000",
        twilio_api_base=fake_twilio.base_url,
    )
    services = install_services(engine, Redis.from_url(redis_url), settings)
    delivery.use_sender(TwilioSender(settings))
    try:
        now = dt.datetime.now(dt.UTC)
        units = ["civil_affairs", "intake_center", "chengguan.urban"]
        for index, code in enumerate(units):
            add_case(demo_session, code, number=f"20261120010{index}", due_at=now - 3 * HOUR)
        add_case(demo_session, "health", number="202611200200", due_at=now + 9 * HOUR)
        result = sweep_deadlines()
        assert (result.red, result.jobs) == (3, 1)
        worker = SimpleWorker([get_queue("default", services.redis)], connection=services.redis)
        worker.work(burst=True)
    finally:
        delivery.use_sender(None)
    sent = fake_twilio.sent()
    assert len(sent) == 6
    messages = stored(services, Message)
    assert len(messages) == 6 and all(m.status is MessageStatus.SENT for m in messages)
    per_case: dict[int, int] = {}
    for message in messages:
        assert message.case_id is not None
        per_case[message.case_id] = per_case.get(message.case_id, 0) + 1
    assert sorted(per_case.values()) == [2, 2, 2]
    assert all("已超期3小时" in request["form"]["Body"] for request in sent)
    assert count(services, AccountabilityEntry) == 3
    # A second sweep and another worker run send nothing more.
    assert sweep_deadlines().changed == 0
    SimpleWorker([get_queue("default", services.redis)], connection=services.redis).work(burst=True)
    assert len(fake_twilio.sent()) == 6


def test_sweep_and_breach_jobs_are_declared() -> None:
    """The jobs are queued by their dotted names with a declared policy."""
    assert POLICIES[sweeps.JOB].queue == "low"
    assert POLICIES[BREACH_JOB].queue == POLICIES[UNSIGNED_JOB].queue == "default"
    assert all(POLICIES[job].retry is not None for job in (sweeps.JOB, BREACH_JOB, UNSIGNED_JOB))
