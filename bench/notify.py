"""Resident notifications end to end: a burst of visible events or released messages → Twilio.

PostgreSQL, the real Redis (`ZHITONG_BENCH_REDIS_URL`, default database 15, emptied first) and
the loopback fake Twilio. N accepted cases, each with its own resident, are bulk-inserted. Two
bursts, as production sees them:

- ``simple`` / ``fork``: each case gets one visible ``dispatch`` event in one bulk commit (a
  sweep, an import); the jobs the session hook queues after such a commit are queued: one
  `notify_events` job per 100 events. Each job stores its messages in one transaction and
  delivers them in-process (`worker.delivery.deliver_batch`).
- ``release``: every case has a notification ``held`` overnight; at 07:00 `release_held`
  turns them ``queued`` and queues `deliver_batch` jobs of 100 (done here as it does it).

Then 2 worker processes run the jobs with the project's settings (ZHITONG_* in their
environment, Twilio pointed at the fake), and the bench waits until every message is `sent`.
Measured, in messages per second from the workers' start: ``simple`` and ``release`` with
`zhitong worker --burst --no-fork` (the default: jobs run in the worker process), ``fork`` with
`zhitong worker --burst --fork` (a forked child per job, job modules preloaded; a smaller N).

`ZHITONG_BENCH_NOTIFY_KINDS=simple,release` runs only those kinds.

Checked: every resident got exactly one SMS (N requests at the fake, N distinct numbers, N
message rows all `sent`). Nothing waits silently: a worker that dies, no progress for
`STALL_SECONDS`, or the hard deadline ends the run with an error quoting the workers' output
and the first failed job; progress goes to stderr every `PROGRESS_SECONDS`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import Engine, func, select, text

from bench import Figure, figure
from bench.channels import _model_path
from bench.fixtures import demo_database, scale
from cases.models import Department, Message
from cases.models.messaging import MessageStatus
from tests.fixtures.fake_twilio import running_fake_twilio
from worker.delivery import BATCH_SIZE, enqueue_deliveries
from worker.notify import NOTIFY_BATCH, RELEASE_BATCH, enqueue_notifications
from worker.queue import get_queue

REDIS_URL = os.environ.get("ZHITONG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
TARGET_PER_SECOND = 200.0
WORKERS = 2
DEADLINE_SECONDS = 900  # per worker kind, whatever happens
STALL_SECONDS = 90  # no message sent for this long while the workers live: give up
PROGRESS_SECONDS = 15
POLL_SECONDS = 0.25
STOP_GRACE_SECONDS = 10


@dataclass(frozen=True)
class Kind:
    """One burst and one way of running the 2 workers."""

    label: str
    size: int  # events (or held messages) at full scale
    command: list[str]
    burst: str = "events"  # or "release"


def _kinds() -> list[Kind]:
    bin_folder = Path(sys.executable).parent
    zhitong = [str(bin_folder / "zhitong"), "worker", "--queue", "default", "--burst"]
    kinds = [
        Kind("simple", 5000, [*zhitong, "--no-fork"]),
        Kind("release", 5000, [*zhitong, "--no-fork"], burst="release"),
        Kind("fork", 1000, [*zhitong, "--fork"]),
    ]
    wanted = os.environ.get("ZHITONG_BENCH_NOTIFY_KINDS", "").split(",")
    return [kind for kind in kinds if kind.label in wanted] if any(wanted) else kinds


class BenchError(RuntimeError):
    """The workers did not deliver every message; the message says what they printed."""


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
    """One figure per worker kind, with the exactly-once check riding along."""
    model = _model_path()  # `zhitong worker` wants the intent model; trained once, kept in /tmp
    # SIGTERM (`timeout`, a CI runner) unwinds like Ctrl+C: workers stopped, database dropped.
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield from _run_all(model)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _run_all(model: Path) -> Iterator[Figure]:
    for kind in _kinds():
        count = scale(kind.size)
        with (
            demo_database("postgresql") as engine,
            running_fake_twilio() as fake,
            tempfile.TemporaryDirectory() as folder,
        ):
            event_ids = _seed(engine, count)
            connection = Redis.from_url(REDIS_URL)
            try:
                connection.flushdb()
                if kind.burst == "release":
                    _release(engine, connection, event_ids)
                else:
                    _queue(connection, event_ids)
                environment = _environment(engine, fake.base_url, Path(folder), model)
                seconds, first = _drain(engine, connection, kind, environment, Path(folder), count)
                with engine.connect() as db:
                    rows = db.execute(select(func.count()).select_from(Message)).scalar_one()
            finally:
                connection.flushdb()
                connection.close()
            sent = fake.sent()
        numbers = {request["form"]["To"] for request in sent}
        yield figure(
            f"notify.messages_per_second.{kind.label}",
            count / seconds,
            "messages/s",
            messages=count,
            burst=kind.burst,
            batch=NOTIFY_BATCH if kind.burst == "events" else BATCH_SIZE,
            seconds=round(seconds, 2),
            first_sent_after=round(first, 2),
            # the same, counted from the first message sent (the workers' start-up left out)
            sent_per_second_after_first=round((count - 1) / max(seconds - first, 1e-3), 1),
            workers=WORKERS,
            command=f"{Path(kind.command[0]).name} {' '.join(kind.command[1:])}",
            requests=len(sent),
            distinct_recipients=len(numbers),
            message_rows=rows,
            exactly_once=len(sent) == count == len(numbers) == rows,
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
    """The jobs the session hook queues after committing these events: one per 100."""
    for start in range(0, len(event_ids), NOTIFY_BATCH):
        enqueue_notifications(connection, event_ids[start : start + NOTIFY_BATCH])


_HELD = """
INSERT INTO messages (
    contact_id, case_id, event_id, purpose, direction, channel, body, media, status,
    error_code, error_message, attempts, created_at
)
SELECT c.contact_id, c.id, e.id, '', 'outbound', 'sms',
       '【直通】您的事项（编号' || c.number || '）已交办城关城市管理中队办理。', '[]', 'held',
       '', '', 0, :now
FROM case_events e JOIN cases c ON c.id = e.case_id
"""
_RELEASE = """
UPDATE messages SET status = 'queued' WHERE status = 'held' AND direction = 'outbound'
RETURNING id
"""


def _release(engine: Engine, connection: Redis, event_ids: list[int]) -> None:
    """Notifications held overnight, released at 07:00 as `release_held` does: one UPDATE,
    then `deliver_batch` jobs of 100 for the workers to share."""
    assert event_ids
    with engine.begin() as db:
        db.execute(text(_HELD), {"now": dt.datetime.now(dt.UTC)})
    with engine.begin() as db:
        released = sorted(row[0] for row in db.execute(text(_RELEASE)))
    for start in range(0, len(released), RELEASE_BATCH):
        enqueue_deliveries(connection, released[start : start + RELEASE_BATCH])


def _environment(engine: Engine, api_base: str, folder: Path, model: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ZHITONG_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "ZHITONG_REDIS_URL": REDIS_URL,
        "ZHITONG_INSTANCE_PATH": str(folder),
        "ZHITONG_NLU_MODEL_PATH": str(model),
        "ZHITONG_TWILIO_ACCOUNT_SID": "AC" + "2" * 32,
        "ZHITONG_TWILIO_AUTH_TOKEN": "token",
        "ZHITONG_TWILIO_FROM": "+8610690000",
        "ZHITONG_TWILIO_API_BASE": api_base,
        "ZHITONG_QUIET_HOURS_START": "00:00",  # nothing held: the bench runs at any hour
        "ZHITONG_QUIET_HOURS_END": "00:00",
        "ZHITONG_LOG_LEVEL": "WARNING",
        "ZHITONG_LOG_FORMAT": "text",
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
    }


def _drain(
    engine: Engine,
    connection: Redis,
    kind: Kind,
    environment: dict[str, str],
    folder: Path,
    count: int,
) -> tuple[float, float]:
    """Run the workers until every message is sent: (seconds, seconds to the first one).

    Raises:
        BenchError: a worker died or exited early, progress stalled, or the deadline passed.
    """
    logs = [folder / f"worker-{index}.log" for index in range(WORKERS)]
    started = time.perf_counter()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for log in logs:
            with log.open("wb") as output:  # the child keeps its own descriptor
                workers.append(
                    subprocess.Popen(
                        kind.command,
                        env=environment,
                        stdin=subprocess.DEVNULL,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # a Ctrl+C of the bench reaches us, not them
                    )
                )
        done, first, progressed, reported = 0, 0.0, started, started
        while True:
            now = time.perf_counter()
            with engine.connect() as db:
                sent = db.execute(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.status == MessageStatus.SENT)
                ).scalar_one()
            if sent > done:
                done, progressed = sent, now
                first = first or now - started
            if done >= count:
                return now - started, first
            if now - reported >= PROGRESS_SECONDS:
                reported = now
                _progress(kind, done, count, now - started)
            exited = [worker.returncode for worker in workers if worker.poll() is not None]
            if any(code != 0 for code in exited):
                raise _failure(
                    kind,
                    f"a worker exited with status {exited}",
                    done,
                    count,
                    logs,
                    connection,
                    engine,
                )
            if len(exited) == WORKERS:
                raise _failure(
                    kind, "the workers finished the queue", done, count, logs, connection, engine
                )
            if now - progressed > STALL_SECONDS:
                raise _failure(
                    kind,
                    f"no message sent for {STALL_SECONDS} s",
                    done,
                    count,
                    logs,
                    connection,
                    engine,
                )
            if now - started > DEADLINE_SECONDS:
                raise _failure(
                    kind,
                    f"deadline of {DEADLINE_SECONDS} s passed",
                    done,
                    count,
                    logs,
                    connection,
                    engine,
                )
            time.sleep(POLL_SECONDS)
    finally:
        _stop(workers)


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    """Warm shutdown (SIGTERM), then SIGKILL for whatever still runs (their forked children
    are in the same session, so the whole group goes)."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for worker in workers:
        try:
            worker.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def _progress(kind: Kind, done: int, count: int, seconds: float) -> None:
    line = {
        "name": f"notify.progress.{kind.label}",
        "sent": done,
        "of": count,
        "seconds": round(seconds, 1),
    }
    print(json.dumps(line), file=sys.stderr, flush=True)


def _failure(
    kind: Kind,
    why: str,
    done: int,
    count: int,
    logs: list[Path],
    connection: Redis,
    engine: Engine,
) -> BenchError:
    """An error that says what happened: statuses, the first failed job, the workers' output."""
    with engine.connect() as db:
        statuses = dict(
            db.execute(select(Message.status, func.count()).group_by(Message.status)).all()
        )
    queue = get_queue("default", connection)
    failed = FailedJobRegistry(queue=queue)
    first_failure = ""
    for job_id in failed.get_job_ids(0, 0):
        job = Job.fetch(job_id, connection=connection)
        result = job.latest_result()
        first_failure = ((result.exc_string if result else None) or "")[-1500:]
    parts = [
        f"{kind.label} ({' '.join(kind.command[1:])}): {why}; {done} of {count} sent",
        f"messages by status: { {str(k): v for k, v in statuses.items()} }",
        f"queue default: {queue.count} waiting, {failed.count} failed",
    ]
    if first_failure:
        parts.append(f"first failed job: {first_failure}")
    for log in logs:
        output = log.read_bytes()[-2000:].decode(errors="replace") if log.exists() else ""
        parts.append(f"{log.name} (last lines): {output or '(nothing)'}")
    message = "\n".join(parts)
    print(message, file=sys.stderr, flush=True)  # readable; the runner prints it as JSON too
    return BenchError(message)
