"""The deadline clock: due dates, 50 %/80 % thresholds of working time, pauses, extensions."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from cases.clock import Clock, Deadline, OfficeHours, warning_level
from cases.models.cases import HandlingKind, WarningLevel

SHANGHAI = ZoneInfo("Asia/Shanghai")
IMMEDIATE, PROMISED, URGENT = HandlingKind.IMMEDIATE, HandlingKind.PROMISED, HandlingKind.URGENT
HOUR = 3600.0


def at(*parts: int) -> dt.datetime:
    """An aware Asia/Shanghai datetime: at(2026, 9, 30, 10, 0)."""
    return dt.datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_office_hours_parse() -> None:
    """Office hours are read from "HH:MM" and give aware opening and closing times."""
    hours = OfficeHours.parse("08:30", "17:30", SHANGHAI)
    assert hours.opening(dt.date(2026, 9, 30)) == at(2026, 9, 30, 8, 30)
    assert hours.closing(dt.date(2026, 9, 30)) == at(2026, 9, 30, 17, 30)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (at(2026, 9, 29, 10, 0), at(2026, 9, 29, 17, 30)),  # during office hours
        (at(2026, 9, 29, 7, 0), at(2026, 9, 29, 17, 30)),  # before office hours
        (at(2026, 9, 29, 17, 29), at(2026, 9, 29, 17, 30)),
        (at(2026, 9, 29, 17, 30), at(2026, 9, 30, 17, 30)),  # at closing: next working day
        (at(2026, 9, 29, 20, 0), at(2026, 9, 30, 17, 30)),  # after office hours
        (at(2026, 9, 30, 18, 0), at(2026, 10, 8, 17, 30)),  # evening before National Day
        (at(2026, 10, 3, 10, 0), at(2026, 10, 8, 17, 30)),  # on a holiday
        (at(2026, 10, 9, 19, 0), at(2026, 10, 10, 17, 30)),  # next day is a 调休 Saturday
        (at(2026, 9, 19, 10, 0), at(2026, 9, 20, 17, 30)),  # Saturday → 调休 Sunday
        (at(2026, 12, 31, 18, 0), at(2027, 1, 4, 17, 30)),  # year end, 元旦 2027
        (dt.datetime(2026, 9, 29, 1, 0, tzinfo=dt.UTC), at(2026, 9, 29, 17, 30)),  # UTC input
        (dt.datetime(2026, 9, 29, 20, 0, tzinfo=dt.UTC), at(2026, 9, 30, 17, 30)),  # 04:00 local
    ],
)
def test_immediate_due_end_of_working_day(
    clock: Clock, received: dt.datetime, due: dt.datetime
) -> None:
    """A 即办件 is due at the end of its working day, the next one if it came after hours."""
    assert clock.deadline(received, IMMEDIATE).due_at == due


@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        (at(2026, 9, 30, 10, 0), 5, at(2026, 10, 13, 17, 30)),  # across National Day
        (at(2026, 9, 30, 10, 0), 1, at(2026, 10, 8, 17, 30)),
        (at(2026, 9, 30, 20, 0), 1, at(2026, 10, 8, 17, 30)),  # after hours: same count
        (at(2026, 10, 9, 10, 0), 1, at(2026, 10, 10, 17, 30)),  # the 调休 Saturday counts
        (at(2026, 10, 4, 10, 0), 1, at(2026, 10, 8, 17, 30)),  # received on a holiday
        (at(2026, 11, 20, 10, 0), 1, at(2026, 11, 23, 17, 30)),  # Friday → Monday
        (at(2026, 12, 30, 10, 0), 3, at(2027, 1, 5, 17, 30)),  # into 2027
        (at(2026, 2, 13, 10, 0), 2, at(2026, 2, 24, 17, 30)),  # Spring Festival
    ],
)
def test_promised_due_after_working_days(
    clock: Clock, received: dt.datetime, days: int, due: dt.datetime
) -> None:
    """A 承诺件 is due at the end of the N-th working day after the day of receipt."""
    assert clock.deadline(received, PROMISED, working_days=days).due_at == due


@pytest.mark.parametrize(
    ("received", "hours", "due", "yellow", "orange"),
    [
        (
            at(2026, 9, 30, 22, 0),
            24,
            at(2026, 10, 1, 22, 0),
            at(2026, 10, 1, 10, 0),
            at(2026, 10, 1, 17, 12),
        ),
        (
            at(2026, 10, 10, 23, 0),
            4,
            at(2026, 10, 11, 3, 0),
            at(2026, 10, 11, 1, 0),
            at(2026, 10, 11, 2, 12),
        ),
        (
            at(2026, 12, 31, 20, 0),
            10,
            at(2027, 1, 1, 6, 0),
            at(2027, 1, 1, 1, 0),
            at(2027, 1, 1, 4, 0),
        ),
    ],
)
def test_urgent_runs_on_wall_clock(
    clock: Clock,
    received: dt.datetime,
    hours: int,
    due: dt.datetime,
    yellow: dt.datetime,
    orange: dt.datetime,
) -> None:
    """An urgent case is due N clock hours later, across nights and holidays."""
    assert clock.deadline(received, URGENT, hours=hours) == Deadline(due, yellow, orange)


@pytest.mark.parametrize(
    ("received", "handling", "days", "yellow", "orange", "due"),
    [
        # 4 h on Sep 30 + 9 h on Oct 8 = 13 h: yellow at 6.5 h, orange at 10.4 h.
        (
            at(2026, 9, 30, 13, 30),
            PROMISED,
            1,
            at(2026, 10, 8, 11, 0),
            at(2026, 10, 8, 14, 54),
            at(2026, 10, 8, 17, 30),
        ),
        # a full 9 h day: yellow at 4.5 h, orange at 7.2 h
        (
            at(2026, 9, 29, 8, 30),
            IMMEDIATE,
            0,
            at(2026, 9, 29, 13, 0),
            at(2026, 9, 29, 15, 42),
            at(2026, 9, 29, 17, 30),
        ),
        # received before opening: the clock starts at 08:30
        (
            at(2026, 9, 29, 6, 0),
            IMMEDIATE,
            0,
            at(2026, 9, 29, 13, 0),
            at(2026, 9, 29, 15, 42),
            at(2026, 9, 29, 17, 30),
        ),
        # received after hours: the whole next working day is the budget
        (
            at(2026, 10, 9, 20, 0),
            IMMEDIATE,
            0,
            at(2026, 10, 10, 13, 0),
            at(2026, 10, 10, 15, 42),
            at(2026, 10, 10, 17, 30),
        ),
        # 1.5 h on Dec 31 + 9 h on Jan 4 = 10.5 h: yellow 5.25 h, orange 8.4 h
        (
            at(2026, 12, 31, 16, 0),
            PROMISED,
            1,
            at(2027, 1, 4, 12, 15),
            at(2027, 1, 4, 15, 24),
            at(2027, 1, 4, 17, 30),
        ),
    ],
)
def test_thresholds_are_fractions_of_working_time(
    clock: Clock,
    received: dt.datetime,
    handling: HandlingKind,
    days: int,
    yellow: dt.datetime,
    orange: dt.datetime,
    due: dt.datetime,
) -> None:
    """Yellow at 50 % and orange at 80 % of the working time, holidays and nights excluded."""
    assert clock.deadline(received, handling, working_days=days) == Deadline(due, yellow, orange)


def test_thresholds_split_working_time_exactly(clock: Clock) -> None:
    """The working time to yellow is half, to orange 80 %, of the time to the due date."""
    received = at(2026, 9, 30, 10, 0)
    deadline = clock.deadline(received, PROMISED, working_days=5)
    budget = clock.working_seconds(received, deadline.due_at)
    assert budget == 7.5 * HOUR + 5 * 9 * HOUR
    assert clock.working_seconds(received, deadline.yellow_at) == pytest.approx(budget * 0.5)
    assert clock.working_seconds(received, deadline.orange_at) == pytest.approx(budget * 0.8)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(2026, 10, 8, 7, 59), WarningLevel.NONE),
        (at(2026, 10, 8, 8, 0), WarningLevel.YELLOW),
        (at(2026, 10, 8, 8, 59, 59), WarningLevel.YELLOW),
        (at(2026, 10, 8, 9, 0), WarningLevel.ORANGE),
        (at(2026, 10, 8, 10, 0), WarningLevel.ORANGE),  # due, not yet overdue
        (at(2026, 10, 8, 10, 0, 1), WarningLevel.RED),
        (at(2026, 12, 1, 0, 0), WarningLevel.RED),
    ],
)
def test_warning_level_boundaries(now: dt.datetime, expected: WarningLevel) -> None:
    """None before yellow, yellow from 50 %, orange from 80 %, red once past due."""
    level = warning_level(now, at(2026, 10, 8, 10, 0), at(2026, 10, 8, 8, 0), at(2026, 10, 8, 9, 0))
    assert level is expected


@pytest.mark.parametrize(
    ("due", "yellow", "orange", "expected"),
    [
        (None, None, None, WarningLevel.NONE),
        (None, at(2026, 1, 1, 0, 0), at(2026, 1, 1, 0, 0), WarningLevel.NONE),  # no deadline
        (at(2026, 10, 8, 10, 0), None, None, WarningLevel.NONE),
        (at(2026, 10, 1, 10, 0), None, None, WarningLevel.RED),
    ],
)
def test_warning_level_with_missing_times(
    due: dt.datetime | None,
    yellow: dt.datetime | None,
    orange: dt.datetime | None,
    expected: WarningLevel,
) -> None:
    """A case without a deadline is never lit; missing thresholds are skipped."""
    assert warning_level(at(2026, 10, 5, 12, 0), due, yellow, orange) is expected


def test_warning_level_compares_instants_not_wall_times() -> None:
    """Times in different zones are compared as instants."""
    due = dt.datetime(2026, 10, 8, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    assert warning_level(at(2026, 10, 8, 9, 59), due, None, None) is WarningLevel.NONE
    assert warning_level(at(2026, 10, 8, 10, 1), due, None, None) is WarningLevel.RED


@pytest.fixture
def three_day_case(clock: Clock) -> Deadline:
    """A 3-working-day case received Tue 2026-09-29 08:30: due Fri 2026-10-09 17:30."""
    deadline = clock.deadline(at(2026, 9, 29, 8, 30), PROMISED, working_days=3)
    assert deadline.due_at == at(2026, 10, 9, 17, 30)
    return deadline


def test_resume_moves_due_by_paused_working_time(clock: Clock, three_day_case: Deadline) -> None:
    """A pause of one working day (Thu noon → Fri noon) moves the due date to the 调休 Saturday."""
    paused, resumed = at(2026, 10, 8, 12, 0), at(2026, 10, 9, 12, 0)
    moved = clock.resume(three_day_case, paused, resumed, PROMISED)
    assert clock.working_seconds(paused, resumed) == 9 * HOUR
    assert moved.due_at == at(2026, 10, 10, 17, 30)
    assert clock.working_seconds(three_day_case.due_at, moved.due_at) == 9 * HOUR


def test_resume_keeps_passed_thresholds(clock: Clock, three_day_case: Deadline) -> None:
    """Yellow was passed before the pause and stays; orange, still ahead, moves."""
    paused, resumed = at(2026, 10, 8, 12, 0), at(2026, 10, 9, 12, 0)
    assert three_day_case.yellow_at <= paused < three_day_case.orange_at
    moved = clock.resume(three_day_case, paused, resumed, PROMISED)
    assert moved.yellow_at == three_day_case.yellow_at
    assert moved.orange_at == at(2026, 10, 10, 10, 18)


def test_pause_over_holiday_moves_nothing(clock: Clock, three_day_case: Deadline) -> None:
    """A pause lying wholly inside National Day costs no working time."""
    moved = clock.resume(three_day_case, at(2026, 10, 2, 9, 0), at(2026, 10, 6, 18, 0), PROMISED)
    assert moved == three_day_case


def test_resume_urgent_moves_by_wall_clock(clock: Clock) -> None:
    """An urgent case's pause moves its future times by the pause's clock length."""
    deadline = clock.deadline(at(2026, 10, 1, 20, 0), URGENT, hours=8)  # due 04:00, yellow 00:00
    moved = clock.resume(deadline, at(2026, 10, 2, 1, 0), at(2026, 10, 2, 3, 0), URGENT)
    assert moved.due_at == at(2026, 10, 2, 6, 0)
    assert moved.yellow_at == deadline.yellow_at
    assert moved.orange_at == deadline.orange_at + dt.timedelta(hours=2)


@pytest.mark.parametrize(
    ("days", "due"),
    [
        (1, at(2026, 10, 10, 17, 30)),  # 调休 Saturday
        (2, at(2026, 10, 12, 17, 30)),
        (10, at(2026, 10, 22, 17, 30)),
    ],
)
def test_extend_by_working_days(
    clock: Clock, three_day_case: Deadline, days: int, due: dt.datetime
) -> None:
    """An approved extension moves the due date by working days and sets thresholds anew."""
    received = at(2026, 9, 29, 8, 30)
    extended = clock.extend(received, three_day_case, days)
    assert extended.due_at == due
    budget = clock.working_seconds(received, due)
    assert clock.working_seconds(received, extended.yellow_at) == pytest.approx(budget / 2)
    assert clock.working_seconds(received, extended.orange_at) == pytest.approx(budget * 0.8)


@pytest.mark.parametrize(
    ("handling", "options"),
    [
        (IMMEDIATE, {}),
        (PROMISED, {"working_days": 3}),
        (URGENT, {"hours": 4}),
    ],
)
def test_naive_datetime_refused(
    clock: Clock, handling: HandlingKind, options: dict[str, int]
) -> None:
    """A time without a zone is refused rather than guessed."""
    with pytest.raises(ValueError, match="naive"):
        clock.deadline(dt.datetime(2026, 9, 30, 10, 0), handling, **options)


@pytest.mark.parametrize(
    ("handling", "options"),
    [
        (PROMISED, {}),
        (PROMISED, {"working_days": 0}),
        (URGENT, {}),
        (URGENT, {"hours": 0}),
    ],
)
def test_missing_limit_refused(
    clock: Clock, handling: HandlingKind, options: dict[str, int]
) -> None:
    """A promised case needs ≥ 1 working day, an urgent one its hours."""
    with pytest.raises(ValueError, match="needs"):
        clock.deadline(at(2026, 9, 30, 10, 0), handling, **options)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (at(2026, 9, 30, 10, 0), at(2026, 9, 30, 12, 0), 2.0),
        (at(2026, 9, 30, 16, 0), at(2026, 10, 8, 9, 30), 2.5),  # across National Day
        (at(2026, 9, 30, 19, 0), at(2026, 10, 7, 23, 0), 0.0),
        (at(2026, 10, 9, 17, 0), at(2026, 10, 12, 9, 0), 9.0 + 1.0),  # 调休 Saturday worked
        (at(2026, 9, 30, 12, 0), at(2026, 9, 30, 10, 0), 0.0),  # end before start
        (at(2026, 12, 31, 17, 0), at(2027, 1, 4, 9, 0), 1.0),
    ],
)
def test_working_seconds(clock: Clock, start: dt.datetime, end: dt.datetime, hours: float) -> None:
    """Office time on working days between two instants."""
    assert clock.working_seconds(start, end) == hours * HOUR


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (at(2026, 9, 30, 10, 0), 2.0, at(2026, 9, 30, 12, 0)),
        (at(2026, 9, 30, 16, 0), 2.5, at(2026, 10, 8, 9, 30)),
        (at(2026, 9, 30, 20, 0), 0.5, at(2026, 10, 8, 9, 0)),
        (at(2026, 10, 9, 17, 0), 1.0, at(2026, 10, 10, 9, 0)),
    ],
)
def test_add_working_seconds(
    clock: Clock, start: dt.datetime, hours: float, expected: dt.datetime
) -> None:
    """The instant at which a given amount of office time has passed."""
    assert clock.add_working_seconds(start, hours * HOUR) == expected
