"""Resident notifications end to end: N visible events → notify jobs → delivery jobs → Twilio.

PostgreSQL, the real Redis (`ZHITONG_BENCH_REDIS_URL`, default database 15, emptied first) and
the loopback fake Twilio. N accepted cases, each with its own resident, get one visible
``dispatch`` event (bulk-inserted); one `notify_event` job per event is queued, as the session
hook does after a commit. Then 2 real `rq worker --burst` processes run the jobs with the
project's settings (ZHITONG_* in their environment, Twilio pointed at the fake). Measured:
messages per second from the workers' start until every message is `sent`, once with RQ's
default fork-per-job worker and once with `SimpleWorker` (jobs in the worker process). Checked:
every resident got exactly one SMS (N requests at the fake, N distinct numbers).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from redis import Redis
from sqlalchemy import Engine, func, select, text

from bench import Figure, figure
from bench.fixtures import demo_database, scale
from cases.models import Department, Message
from cases.models.messaging import MessageStatus
from tests.fixtures.fake_twilio import running_fake_twilio
from worker.notify import NOTIFY_JOB
from worker.queue import POLICIES, get_queue

REDIS_URL = os.environ.get("ZHITONG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
TARGET_PER_SECOND = 200.0
WORKERS = 2
DEADLINE_SECONDS = 600

_CONTACTS = """
INSERT INTO contacts (kind, address, phone, name, language, opted_out, created_at)
SELECT 'phone', '+86139' || lpad(g::text, 8, '0'), '+86139' || lpad(g::text, 8, '0'), '',
       'zh', false, :now
FROM generate_series(1, :count) AS g
"""
_CASES = """
INSERT INTO cases (
    number, item_code, category_code, kind, handling, status, channel, summary, description,
    department_id, contact_id, needs_review, urgent, warning_level, received_at, due_at,
    paused_seconds, extension_days, result_text, reason, escalation_count, return_count,
    reopen_count, created_at, updated_at, version
)
SELECT '2026' || lpad(c.id::text, 8, '0'), 'infra_streetlight', 'urban_rural', 'concern',
       'promised', 'dispatched', 'sms', '路灯不亮', '', :unit, c.id, false, false, 'none', :now,
       :now + interval '5 days', 0, 0, '', '', 0, 0, 0, :now, :now, 1
FROM contacts c WHERE c.address LIKE '+86139%'
"""
_EVENTS = """
INSERT INTO case_events (
    case_id, action, actor_type, actor_id, actor_name, at, from_status, to_status, note,
    visible_to_resident, data
)
SELECT id, 'dispatch', 'system', NULL, 'system', :now, 'accepted', 'dispatched', '', true,
       '{"to_unit": "chengguan.urban"}'
FROM cases ORDER BY id
RETURNING id
"""


def run() -> Iterator[Figure]:
    """One figure per worker class, with the exactly-once check riding along."""
    count = scale(5000)
    for worker_class in ("rq.Worker", "rq.SimpleWorker"):
        with demo_database("postgresql") as engine, running_fake_twilio() as fake:
            event_ids = _seed(engine, count)
            connection = Redis.from_url(REDIS_URL)
            connection.flushdb()
            _queue(connection, event_ids)
            with tempfile.TemporaryDirectory() as folder:
                seconds = _drain(engine, fake.base_url, worker_class, Path(folder), count)
            sent = fake.sent()
            numbers = {request["form"]["To"] for request in sent}
            connection.flushdb()
            connection.close()
        yield figure(
            f"notify.messages_per_second.{worker_class.split('.')[1].lower()}",
            count / seconds if seconds else 0.0,
            "messages/s",
            messages=count,
            seconds=round(seconds, 2),
            workers=WORKERS,
            requests=len(sent),
            distinct_recipients=len(numbers),
            exactly_once=len(sent) == count == len(numbers),
            target=TARGET_PER_SECOND,
            backend="postgresql",
        )


def _seed(engine: Engine, count: int) -> list[int]:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        unit = connection.execute(
            select(Department.id).where(Department.code == "chengguan.urban")
        ).scalar_one()
        connection.execute(text(_CONTACTS), {"now": now, "count": count})
        connection.execute(text(_CASES), {"now": now, "unit": unit})
        return [row[0] for row in connection.execute(text(_EVENTS), {"now": now})]


def _queue(connection: Redis, event_ids: list[int]) -> None:
    """The jobs the session hook would have queued, in one pipeline."""
    policy = POLICIES[NOTIFY_JOB]
    queue = get_queue(policy.queue, connection)
    jobs = [
        queue.prepare_data(
            NOTIFY_JOB,
            (event_id,),
            job_id=f"notify-{event_id}",
            timeout=policy.timeout,
            retry=policy.retry,
        )
        for event_id in event_ids
    ]
    for start in range(0, len(jobs), 1000):
        queue.enqueue_many(jobs[start : start + 1000])


def _drain(engine: Engine, api_base: str, worker_class: str, folder: Path, count: int) -> float:
    environment = {
        **os.environ,
        "ZHITONG_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "ZHITONG_REDIS_URL": REDIS_URL,
        "ZHITONG_INSTANCE_PATH": str(folder),
        "ZHITONG_TWILIO_ACCOUNT_SID": "AC" + "2" * 32,
        "ZHITONG_TWILIO_AUTH_TOKEN": "token",
        "ZHITONG_TWILIO_FROM": "+8610690000",
        "ZHITONG_TWILIO_API_BASE": api_base,
        "ZHITONG_QUIET_HOURS_START": "00:00",  # nothing held: the bench runs at any hour
        "ZHITONG_QUIET_HOURS_END": "00:00",
        "ZHITONG_LOG_LEVEL": "WARNING",
    }
    rq = str(Path(sys.executable).with_name("rq"))
    command = [rq, "worker", "default", "--burst", "--url", REDIS_URL, "-w", worker_class, "-q"]
    started = time.perf_counter()
    workers = [subprocess.Popen(command, env=environment) for _ in range(WORKERS)]
    try:
        while time.perf_counter() - started < DEADLINE_SECONDS:
            with engine.connect() as connection:
                done = connection.execute(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.status == MessageStatus.SENT)
                ).scalar_one()
            if done >= count:
                return time.perf_counter() - started
            if all(worker.poll() is not None for worker in workers):
                return 0.0  # the workers gave up before every message went out
            time.sleep(0.05)
        return 0.0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
            worker.wait()
