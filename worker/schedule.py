"""Periodic work on RQ's own cron scheduler (`rq.cron`), no host crontab.

Production runs one `zhitong cron` process beside the workers; embedded mode runs the same
scheduler as a thread of `zhitong serve`. Every periodic job is idempotent (the sweep holds a
Redis lock, digests and reports claim a key per day or month), so a second scheduler or a
restart at the wrong moment costs nothing but a no-op run.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis import Redis
from rq.cron import CronScheduler

from worker import runtime
from worker.digest import send_morning_digests
from worker.notify import catch_up, release_held
from worker.queue import POLICIES
from worker.recovery import sweep_recovery
from worker.surveys import monthly_review_if_due, survey_sweep
from worker.sweeps import sweep_deadlines

log = logging.getLogger(__name__)

DIGEST_FROM, DIGEST_UNTIL = dt.time(7, 30), dt.time(11, 0)
REPORT_FROM = dt.time(6, 0)
REPORT_CLAIM_TTL = 40 * 24 * 3600


def morning_digests_if_due(now: dt.datetime | None = None) -> str:
    """Send the morning digests once the county's morning has come (07:30–11:00 local)."""
    services = runtime.current()
    moment = now or dt.datetime.now(dt.UTC)
    local = moment.astimezone(services.clock.hours.zone).time()
    if not DIGEST_FROM <= local < DIGEST_UNTIL:
        return "not due"
    return repr(send_morning_digests(moment))


def monthly_report_if_due(now: dt.datetime | None = None) -> str:
    """On the first of the month (local, after 06:00) write last month's 民情专报, once."""
    from worker.reports import generate_monthly_report, previous_period

    services = runtime.current()
    moment = now or dt.datetime.now(dt.UTC)
    local = moment.astimezone(services.clock.hours.zone)
    if local.day != 1 or local.time() < REPORT_FROM:
        return "not due"
    period = previous_period(moment, services.clock.hours.zone)
    claim = f"zhitong:report:{period}"
    if not services.redis.set(claim, moment.isoformat(), nx=True, ex=REPORT_CLAIM_TTL):
        return "already written"
    try:
        return str(generate_monthly_report(period))
    except BaseException:
        services.redis.delete(claim)  # let the next run try again
        raise


@dataclass(frozen=True)
class Periodic:
    """One periodic job: what runs, on which queue, how often."""

    func: Callable[..., Any]
    queue: str
    every_seconds: int


SCHEDULE: tuple[Periodic, ...] = (
    Periodic(sweep_deadlines, "low", 60),
    Periodic(sweep_recovery, "low", 60),
    Periodic(morning_digests_if_due, "low", 600),
    Periodic(monthly_report_if_due, "low", 3600),
    Periodic(catch_up, "low", 300),
    Periodic(release_held, "low", 300),
    Periodic(survey_sweep, "low", 900),
    Periodic(monthly_review_if_due, "low", 3600),
)


def make_cron(connection: Redis) -> CronScheduler:
    """A cron scheduler with every periodic job registered."""
    cron = CronScheduler(connection=connection, logging_level=logging.WARNING)
    for periodic in SCHEDULE:
        path = f"{periodic.func.__module__}.{periodic.func.__name__}"
        policy = POLICIES.get(path)
        cron.register(
            periodic.func,
            periodic.queue,
            interval=periodic.every_seconds,
            job_timeout=policy.timeout if policy else 600,
        )
    return cron


@dataclass
class EmbeddedCron:
    """The cron loop of `zhitong serve` without Redis."""

    thread: threading.Thread
    stop_event: threading.Event

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and wait for the thread."""
        self.stop_event.set()
        self.thread.join(timeout)


def start_embedded_cron(connection: Redis) -> EmbeddedCron:
    """Run the cron scheduler in a daemon thread (signals belong to the main thread)."""
    cron = make_cron(connection)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                cron.enqueue_jobs()
            except Exception:  # the loop's one boundary: log it and try again next time
                log.exception("cron could not enqueue its jobs")
            stop.wait(min(max(cron.calculate_sleep_interval(), 1.0), 30.0))

    thread = threading.Thread(target=loop, name="zhitong-cron", daemon=True)
    thread.start()
    return EmbeddedCron(thread, stop)


def run_cron(connection: Redis) -> None:
    """Run the cron scheduler in this process until it is stopped (`zhitong cron`)."""
    make_cron(connection).start()
