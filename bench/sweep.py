"""Deadline sweep over a million open cases on PostgreSQL, then a second sweep right after.

The cases are bulk-inserted with one `INSERT … SELECT generate_series` (seconds, not minutes):
mixed running statuses, one in twenty paused (待补办), spread over the county's units, received
over the last 6¼ days with a 5-day limit, so that at `NOW` 40 % have no light, 24 % are yellow,
16 % orange and 20 % red. Their stored levels are those the previous sweep gave an hour
earlier, so the first sweep moves an hour's worth of cases (about 19,000 of the million) and
must touch nothing else; the second, at the same moment, must change nothing.

The sweep reads the partial indexes of migration 0008 (created from the models after the bulk
insert). Then a sweep an hour later, and one after a day without any (an outage: the cost
follows the cases that change). Breach jobs go to an in-memory Redis: queueing
them is timed, running them is not.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import fakeredis
from sqlalchemy import Engine, select, text
from sqlalchemy.schema import AddConstraint, DropConstraint

from bench import Figure, figure
from bench.fixtures import demo_database, scale
from cases.calendar import make_calendar
from cases.clock import Clock, OfficeHours
from cases.db import make_session_factory
from cases.models import Base, Case, Department
from cases.settings import load_settings
from worker import runtime
from worker.runtime import Services
from worker.sweeps import SweepResult, sweep_deadlines

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=ZONE)  # a Monday morning
TARGET_FIRST_SECONDS = 10.0
TARGET_SECOND_SECONDS = 2.0

# One in twenty cases per status bucket: 0 new, 1 dispatched (recently: not yet late to sign
# for), 2 paused awaiting materials, 3 escalated, 4 reopened, 5–8 accepted, the rest in progress.
# Thresholds are spread over 6¼ days (a 5-day limit) with a per-case jitter of up to ten minutes;
# the stored level is the one the previous sweep, at :previous, gave (paused cases keep none).
_INSERT = """
INSERT INTO cases (
    number, item_code, category_code, kind, handling, status, channel, summary, description,
    department_id, confidence, needs_review, urgent, warning_level, received_at, due_at,
    yellow_at, orange_at, paused_at, paused_seconds, extension_days, dispatched_at, signed_at,
    result_text, reason, escalation_count, return_count, reopen_count, created_at, updated_at,
    version
)
SELECT
    '2026' || lpad(g::text, 8, '0'), 'infra_streetlight', 'urban_rural', 'concern', 'promised',
    CASE WHEN b = 0 THEN 'new' WHEN b = 1 THEN 'dispatched' WHEN b = 2 THEN 'awaiting_materials'
         WHEN b = 3 THEN 'escalated' WHEN b = 4 THEN 'reopened' WHEN b <= 8 THEN 'accepted'
         ELSE 'in_progress' END,
    'sms', '路灯不亮', '', (:units)[1 + g % cardinality(:units)], 0.9, false, false,
    CASE WHEN b = 2 THEN 'none'
         WHEN received + span < :previous THEN 'red'
         WHEN received + span * 0.8 <= :previous THEN 'orange'
         WHEN received + span * 0.5 <= :previous THEN 'yellow'
         ELSE 'none' END,
    received, received + span, received + span * 0.5, received + span * 0.8,
    CASE WHEN b = 2 THEN CAST(:now AS timestamptz) - interval '1 hour' END, 0, 0,
    CASE WHEN b = 1 THEN CAST(:now AS timestamptz) - (g % 48) * interval '1 hour' END, NULL,
    '', '', 0, 0, 0, received, received, 1
FROM (
    SELECT g, g % 20 AS b, interval '5 days' AS span,
           CAST(:now AS timestamptz) - ((g::bigint * 7919) % 100000) * interval '5.4 seconds'
               - (g % 600) * interval '1 second' AS received
    FROM generate_series(1, :count) AS g
    OFFSET 0  -- computed once per row, not at every use below
) AS spread
"""


def run() -> Iterator[Figure]:
    """Insert the cases, then time the sweeps; seconds and cases changed for each."""
    count = scale(1_000_000)
    with demo_database("postgresql") as engine, tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        insert_open_cases(engine, count, previous=NOW - dt.timedelta(hours=1))
        seconds = time.perf_counter() - began
        yield figure("sweep.insert_seconds", seconds, "s", cases=count, backend="postgresql")
        install(engine, Path(folder))
        yield _figure("sweep.first_seconds", sweep_deadlines(NOW), count, TARGET_FIRST_SECONDS)
        yield _figure("sweep.second_seconds", sweep_deadlines(NOW), count, TARGET_SECOND_SECONDS)

        later = NOW + dt.timedelta(hours=1)
        yield _figure("sweep.an_hour_later_seconds", sweep_deadlines(later), count, None)
        next_day = later + dt.timedelta(days=1)
        yield _figure("sweep.after_a_day_seconds", sweep_deadlines(next_day), count, None)


def insert_open_cases(engine: Engine, count: int, previous: dt.datetime) -> None:
    """Bulk-insert `count` open cases as swept at `previous`, then VACUUM ANALYZE.

    Like a restore, the insert runs with the secondary indexes and foreign keys of `cases`
    dropped and puts them back after it (the same definitions, from the models): building an
    index or checking a key once is far quicker than doing it a row at a time.
    """
    table = Base.metadata.tables[Case.__tablename__]
    indexes = list(table.indexes)
    keys = [key for key in table.foreign_key_constraints if key.name]
    with engine.begin() as connection:
        units = list(connection.scalars(select(Department.id).order_by(Department.id)))
        for key in keys:
            connection.execute(DropConstraint(key))
        for index in indexes:
            index.drop(connection)
        values = {"units": units, "now": NOW, "previous": previous, "count": count}
        connection.execute(text(_INSERT), values)
        for index in indexes:
            index.create(connection)
        for key in keys:
            connection.execute(AddConstraint(key))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE cases"))


def install(engine: Engine, folder: Path) -> Services:
    """Make the sweep use this database, an in-memory Redis and the county clock."""
    settings = load_settings(instance_path=folder)
    clock = Clock(make_calendar(), OfficeHours.parse("08:30", "17:30", ZONE))
    services = Services(
        settings, engine, make_session_factory(engine), fakeredis.FakeRedis(), clock
    )
    runtime.install(services)
    return services


def _figure(name: str, result: SweepResult, count: int, target: float | None) -> Figure:
    targets = {} if target is None else {"target_seconds": target}
    return figure(
        name,
        result.seconds,
        "s",
        cases=count,
        changed=result.changed,
        yellow=result.yellow,
        orange=result.orange,
        red=result.red,
        recovered=result.recovered,
        unsigned=result.unsigned,
        jobs=result.jobs,
        backend="postgresql",
        **targets,
    )
