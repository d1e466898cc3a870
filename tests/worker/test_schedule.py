"""Periodic jobs: registered on RQ's cron, run in embedded mode, and due only when they should."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import fakeredis
import pytest
from sqlalchemy import Engine

from cases.settings import load_settings
from tests.fixtures.services import services_for
from worker import runtime
from worker.queue import get_queue
from worker.runtime import Services
from worker.schedule import (
    SCHEDULE,
    make_cron,
    monthly_report_if_due,
    morning_digests_if_due,
    start_embedded_cron,
)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def services(engine: Engine, tmp_path) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    """Installed runtime services with an in-memory queue."""
    settings = load_settings(instance_path=tmp_path)
    built = services_for(engine, settings)
    previous = runtime.installed()
    runtime.install(built)
    yield built
    if previous is not None:
        runtime.install(previous)


def test_every_periodic_job_is_registered() -> None:
    """The sweep runs every minute; digests and the monthly report are checked periodically."""
    cron = make_cron(fakeredis.FakeRedis())
    names = {job.func_name for job in cron.get_jobs()}  # type: ignore[attr-defined]
    assert names == {f"{p.func.__module__}.{p.func.__name__}" for p in SCHEDULE}
    assert next(p for p in SCHEDULE if p.func.__name__ == "sweep_deadlines").every_seconds == 60


def test_embedded_cron_enqueues_the_sweep() -> None:
    """Without Redis, the cron thread puts the deadline sweep on the low queue at once."""
    connection = fakeredis.FakeRedis()
    cron = start_embedded_cron(connection)
    try:
        queue = get_queue("low", connection)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not queue.job_ids:
            time.sleep(0.1)
        functions = {queue.fetch_job(job_id).func_name for job_id in queue.job_ids}  # type: ignore[union-attr]
    finally:
        cron.stop()
    assert "worker.sweeps.sweep_deadlines" in functions
    assert not cron.thread.is_alive()


@pytest.mark.parametrize("hour", [3, 12, 22])
def test_digests_wait_for_the_morning(services: Services, hour: int) -> None:
    """Outside 07:30–11:00 local time the digest job does nothing."""
    now = dt.datetime(2026, 11, 23, hour, 0, tzinfo=SHANGHAI)
    assert morning_digests_if_due(now) == "not due"


def test_monthly_report_only_on_the_first_and_once(services: Services) -> None:
    """Not due on the 2nd; on the 1st a claimed period is not written again."""
    assert monthly_report_if_due(dt.datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)) == "not due"
    assert monthly_report_if_due(dt.datetime(2026, 12, 1, 5, 0, tzinfo=SHANGHAI)) == "not due"
    services.redis.set("zhitong:report:2026-11", "claimed")
    first_of_month = dt.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
    assert monthly_report_if_due(first_of_month) == "already written"
