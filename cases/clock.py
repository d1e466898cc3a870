"""The deadline clock: due dates, warning thresholds and levels. Pure functions of `now`.

Working time is time inside office hours on working days. A 即办件 (immediate) is due at the
end of the working day it arrives on (the next one when it arrives after hours); a 承诺件
(promised) at the end of the N-th working day after the day of receipt; an urgent matter N clock
hours after receipt, night or holiday. Yellow shows when half the time is used, orange at 80 %,
red when overdue. The clock stops while the case awaits materials (待补办).

Thresholds are stored on the case beside the due date, so the deadline sweep is a set-based
query, and the level of one case is three comparisons (`warning_level`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cases.calendar import WorkingCalendar
from cases.models.cases import HandlingKind, WarningLevel

YELLOW_FRACTION = 0.5
ORANGE_FRACTION = 0.8


@dataclass(frozen=True)
class OfficeHours:
    """When the county's units work, in the county's time zone."""

    start: dt.time
    end: dt.time
    zone: ZoneInfo

    @classmethod
    def parse(cls, start: str, end: str, zone: ZoneInfo) -> OfficeHours:
        """Build from "HH:MM" strings (as in the settings)."""
        return cls(dt.time.fromisoformat(start), dt.time.fromisoformat(end), zone)

    def opening(self, day: dt.date) -> dt.datetime:
        """Start of office hours on `day`, aware."""
        return dt.datetime.combine(day, self.start, self.zone)

    def closing(self, day: dt.date) -> dt.datetime:
        """End of office hours on `day`, aware."""
        return dt.datetime.combine(day, self.end, self.zone)


@dataclass(frozen=True)
class Deadline:
    """When a case turns yellow, orange and red (due)."""

    due_at: dt.datetime
    yellow_at: dt.datetime
    orange_at: dt.datetime


@dataclass(frozen=True)
class Clock:
    """The calendar and office hours that every deadline decision uses."""

    calendar: WorkingCalendar
    hours: OfficeHours

    def deadline(
        self,
        received_at: dt.datetime,
        handling: HandlingKind,
        *,
        working_days: int | None = None,
        hours: int | None = None,
    ) -> Deadline:
        """Compute the deadline of a case received at `received_at`.

        Args:
            received_at: aware time of receipt.
            handling: immediate, promised or urgent.
            working_days: the promised limit (承诺件); ignored for the other kinds.
            hours: the urgent limit in clock hours; required for urgent cases.
        """
        _require_aware(received_at)
        if handling is HandlingKind.URGENT:
            if not hours:
                raise ValueError("an urgent case needs its limit in hours")
            return self._wall_deadline(received_at, received_at + dt.timedelta(hours=hours))
        days = 0 if handling is HandlingKind.IMMEDIATE else working_days
        if days is None or days < (handling is HandlingKind.PROMISED):
            raise ValueError("a promised case needs at least one working day")
        return self._working_deadline(received_at, self.due_after_working_days(received_at, days))

    def due_after_working_days(self, received_at: dt.datetime, days: int) -> dt.datetime:
        """End of office on the `days`-th working day after receipt (0: the day of receipt)."""
        local = received_at.astimezone(self.hours.zone)
        day = local.date()
        if days == 0:
            if self.calendar.is_working_day(day) and local < self.hours.closing(day):
                return self.hours.closing(day)
            return self.hours.closing(self.calendar.next_working_day(day))
        return self.hours.closing(self.calendar.add_working_days(day, days))

    def working_seconds(self, start: dt.datetime, end: dt.datetime) -> float:
        """Seconds of office time on working days between two instants (0 if end <= start)."""
        if end <= start:
            return 0.0
        zone = self.hours.zone
        day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        total = 0.0
        while day <= last:
            if self.calendar.is_working_day(day):
                open_, close = self.hours.opening(day), self.hours.closing(day)
                span = (min(close, end) - max(open_, start)).total_seconds()
                total += max(span, 0.0)
            day += dt.timedelta(days=1)
        return total

    def add_working_seconds(self, start: dt.datetime, seconds: float) -> dt.datetime:
        """The instant at which `seconds` of office time have passed after `start`."""
        zone = self.hours.zone
        moment = start.astimezone(zone)
        day = moment.date()
        remaining = seconds
        while True:
            if self.calendar.is_working_day(day):
                open_, close = self.hours.opening(day), self.hours.closing(day)
                begin = max(open_, moment)
                available = (close - begin).total_seconds()
                if available >= remaining and begin <= close:
                    return begin + dt.timedelta(seconds=remaining)
                remaining -= max(available, 0.0)
            day += dt.timedelta(days=1)
            moment = self.hours.opening(day)

    def resume(
        self,
        deadline: Deadline,
        paused_at: dt.datetime,
        resumed_at: dt.datetime,
        handling: HandlingKind,
    ) -> Deadline:
        """Move a deadline by the time the clock stood still (待补办 → 办理中).

        Thresholds already passed when the clock stopped stay where they were: a level once
        reached is not taken back by a pause.
        """
        if handling is HandlingKind.URGENT:
            pause = resumed_at - paused_at

            def shift(moment: dt.datetime) -> dt.datetime:
                return moment + pause if moment > paused_at else moment

        else:
            paused = self.working_seconds(paused_at, resumed_at)

            def shift(moment: dt.datetime) -> dt.datetime:
                if moment <= paused_at:
                    return moment
                left = self.working_seconds(paused_at, moment)
                return self.add_working_seconds(resumed_at, left) if paused else moment

        return Deadline(
            shift(deadline.due_at), shift(deadline.yellow_at), shift(deadline.orange_at)
        )

    def extend(self, clock_start: dt.datetime, deadline: Deadline, working_days: int) -> Deadline:
        """A deadline moved by an approved extension (延期) of `working_days`; thresholds anew."""
        local_due = deadline.due_at.astimezone(self.hours.zone)
        new_due = self.hours.closing(self.calendar.add_working_days(local_due.date(), working_days))
        return self._working_deadline(clock_start, new_due)

    def _working_deadline(self, start: dt.datetime, due: dt.datetime) -> Deadline:
        budget = self.working_seconds(start, due)
        return Deadline(
            due_at=due,
            yellow_at=self.add_working_seconds(start, budget * YELLOW_FRACTION),
            orange_at=self.add_working_seconds(start, budget * ORANGE_FRACTION),
        )

    @staticmethod
    def _wall_deadline(start: dt.datetime, due: dt.datetime) -> Deadline:
        span = due - start
        return Deadline(due, start + span * YELLOW_FRACTION, start + span * ORANGE_FRACTION)


def warning_level(
    now: dt.datetime,
    due_at: dt.datetime | None,
    yellow_at: dt.datetime | None,
    orange_at: dt.datetime | None,
) -> WarningLevel:
    """The traffic-light level at `now` for a running clock (red once overdue)."""
    if due_at is None:
        return WarningLevel.NONE
    if now > due_at:
        return WarningLevel.RED
    if orange_at is not None and now >= orange_at:
        return WarningLevel.ORANGE
    if yellow_at is not None and now >= yellow_at:
        return WarningLevel.YELLOW
    return WarningLevel.NONE


def _require_aware(moment: dt.datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; deadlines need aware datetimes")
