"""Case creation per second: number, routing, deadline and two events, one commit per case.

This is what every resident's first message costs the database, so it is measured on both
backends exactly as the bot calls it (`cases.service.open_case`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bench import Figure, figure
from bench.fixtures import demo_database, scale
from cases.calendar import make_calendar
from cases.clock import Clock, OfficeHours
from cases.db import make_session_factory, session_scope
from cases.models import Area
from cases.models.directory import AreaLevel
from cases.models.messaging import Channel
from cases.service import Intake, open_case
from intents.catalog import catalog

ZONE = ZoneInfo("Asia/Shanghai")


def run() -> Iterator[Figure]:
    """Create cases one transaction each on SQLite and PostgreSQL."""
    count = scale(2000)
    for kind in ("sqlite", "postgresql"):
        yield _create_cases(kind, count)


def _create_cases(kind: str, count: int) -> Figure:
    clock = Clock(make_calendar(), OfficeHours.parse("08:30", "17:30", ZONE))
    items = [item.code for item in catalog().items]
    with demo_database(kind) as engine:
        sessions = make_session_factory(engine)
        with session_scope(sessions) as session:
            villages = list(session.scalars(select(Area.id).where(Area.level == AreaLevel.VILLAGE)))
        now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=ZONE)
        started = time.perf_counter()
        for index in range(count):
            intake = Intake(
                item_code=items[index % len(items)],
                description="村口路灯坏了一个星期，晚上很黑",
                channel=Channel.SMS,
                area_id=villages[index % len(villages)],
                confidence=0.9,
            )
            with session_scope(sessions) as session:
                open_case(session, intake, now=now + dt.timedelta(seconds=index), clock=clock)
        elapsed = time.perf_counter() - started
    return figure(f"cases.create_per_second.{kind}", count / elapsed, "cases/s", cases=count)
