"""Deadline computation and warning-level decisions per second (pure, one core)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from bench import Figure, figure
from bench.fixtures import scale
from cases.calendar import make_calendar
from cases.clock import Clock, OfficeHours, warning_level
from cases.models.cases import HandlingKind

ZONE = ZoneInfo("Asia/Shanghai")


def run() -> Iterator[Figure]:
    """Deadlines (with thresholds) and levels over received times spread across 2026–2027."""
    clock = Clock(make_calendar(), OfficeHours.parse("08:30", "17:30", ZONE))
    start = dt.datetime(2026, 9, 1, 8, 0, tzinfo=ZONE)
    moments = [start + dt.timedelta(minutes=97 * i) for i in range(scale(20000))]

    began = time.perf_counter()
    deadlines = [clock.deadline(m, HandlingKind.PROMISED, working_days=5) for m in moments]
    elapsed = time.perf_counter() - began
    yield figure(
        "clock.deadlines_per_second",
        len(moments) / elapsed,
        "deadlines/s",
        handling="promised 5 days",
    )

    now = dt.datetime(2026, 11, 22, 10, 0, tzinfo=ZONE)
    rounds = 10
    began = time.perf_counter()
    for _ in range(rounds):
        for d in deadlines:
            warning_level(now, d.due_at, d.yellow_at, d.orange_at)
    elapsed = time.perf_counter() - began
    yield figure("clock.levels_per_second", rounds * len(deadlines) / elapsed, "levels/s")
