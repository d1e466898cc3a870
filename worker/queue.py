"""Queues, the Redis connection, and the workers that run jobs.

Production: RQ on Redis (ZHITONG_REDIS_URL), `zhitong worker` runs the workers and the scheduler.
Embedded: the same RQ code on an in-process fakeredis server with one worker thread, so a
laptop runs Zhitong with nothing else installed and the jobs behave as they will in production.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import fakeredis
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, Worker
from rq.timeouts import TimerDeathPenalty

from cases.settings import Settings
from worker.exceptions import QueueUnavailableError

log = logging.getLogger(__name__)

# high: follow-ups of inbound messages; default: notifications; low: sweeps and reports.
QUEUE_NAMES = ("high", "default", "low")

_EMBEDDED_SERVER = fakeredis.FakeServer()


def redis_connection(settings: Settings) -> Redis:
    """The Redis connection jobs are queued on: the real server, or the embedded fake."""
    if settings.redis_url:
        return Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=30)
    return fakeredis.FakeRedis(server=_EMBEDDED_SERVER)


def get_queue(name: str, connection: Redis) -> Queue:
    """One of the named queues.

    Raises:
        ValueError: not one of QUEUE_NAMES.
    """
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; queues are {', '.join(QUEUE_NAMES)}")
    return Queue(name, connection=connection)


@dataclass(frozen=True)
class QueueHealth:
    """What /healthz says about the queue."""

    ok: bool
    mode: str  # "redis" or "embedded"
    depth: dict[str, int]
    workers: int
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"ok": self.ok, "mode": self.mode, "depth": self.depth, "workers": self.workers} | (
            {"error": self.error} if self.error else {}
        )


def check_queue(connection: Redis, *, embedded: bool) -> QueueHealth:
    """Ping the queue's Redis and count waiting jobs and live workers."""
    mode = "embedded" if embedded else "redis"
    try:
        connection.ping()
        depth = {name: get_queue(name, connection).count for name in QUEUE_NAMES}
        workers = len(Worker.all(connection=connection))
    except RedisError as exc:
        return QueueHealth(False, mode, {}, 0, error=type(exc).__name__)
    return QueueHealth(True, mode, depth, workers)


class ThreadWorker(SimpleWorker):
    """An RQ worker that runs in a thread of the web process (embedded mode only).

    Signals belong to the main thread, so this worker installs no handlers and enforces job
    timeouts with a timer instead of SIGALRM.
    """

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        return None


@dataclass
class EmbeddedWorker:
    """The in-process worker thread of `zhitong serve` without Redis."""

    worker: ThreadWorker
    thread: threading.Thread

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to stop after its current job and wait for the thread."""
        self.worker._stop_requested = True
        self.thread.join(timeout)


def start_embedded_worker(connection: Redis) -> EmbeddedWorker:
    """Start one worker thread on every queue, with the scheduler for delayed jobs."""
    queues = [get_queue(name, connection) for name in QUEUE_NAMES]
    worker = ThreadWorker(queues, connection=connection, name=f"embedded-{threading.get_ident()}")
    thread = threading.Thread(
        target=worker.work,
        kwargs={"with_scheduler": True, "logging_level": "WARNING"},
        name="zhitong-worker",
        daemon=True,
    )
    thread.start()
    return EmbeddedWorker(worker, thread)


def run_worker(settings: Settings, queue_names: list[str], *, burst: bool = False) -> bool:
    """Run an RQ worker in this process on the named queues (the `zhitong worker` command).

    Raises:
        QueueUnavailableError: no Redis is configured or it cannot be reached.
    """
    if not settings.redis_url:
        raise QueueUnavailableError(
            "ZHITONG_REDIS_URL is not set: without Redis, `zhitong serve` runs the jobs itself"
        )
    connection = redis_connection(settings)
    try:
        connection.ping()
    except RedisError as exc:
        raise QueueUnavailableError(f"cannot reach Redis at ZHITONG_REDIS_URL: {exc}") from exc
    queues = [get_queue(name, connection) for name in queue_names or QUEUE_NAMES]
    worker = Worker(queues, connection=connection)
    return bool(worker.work(burst=burst, with_scheduler=True))
