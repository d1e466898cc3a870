"""Queues, the Redis connection, and the workers that run jobs.

Production: RQ on Redis (ZHITONG_REDIS_URL), `zhitong worker` runs the workers and the scheduler.
Embedded: the same RQ code on an in-process fakeredis server with one worker thread, so a
laptop runs Zhitong with nothing else installed and the jobs behave as they will in production.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

import fakeredis
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, SimpleWorker, Worker
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.worker import BaseWorker

from cases.settings import Settings
from worker.exceptions import QueueUnavailableError

log = logging.getLogger(__name__)

# high: follow-ups of inbound messages; default: notifications; low: sweeps and reports.
QUEUE_NAMES = ("high", "default", "low")

_EMBEDDED_SERVER = fakeredis.FakeServer()


@dataclass(frozen=True)
class JobPolicy:
    """Where a job type runs, how long it may take, and how it is retried."""

    queue: str
    timeout: int  # seconds
    retry: Retry | None = None


# Every job type, declared once. Jobs take ids and reload what they need; each is idempotent,
# so a retry or a second enqueue of the same work changes nothing.
POLICIES: dict[str, JobPolicy] = {
    "worker.delivery.deliver": JobPolicy(
        "default", timeout=60, retry=Retry(max=5, interval=[10, 30, 120, 600, 1800])
    ),
    # Up to 100 messages, one claim; transient failures are queued again by the job itself
    # with the intervals above. This retry covers a job that died (at once: a dead worker's
    # job needs no backoff, nor a live scheduler) or hit a database error (then 1 and 5 min).
    "worker.delivery.deliver_batch": JobPolicy(
        "default", timeout=90, retry=Retry(max=3, interval=[0, 60, 300])
    ),
    # Deadline sweep (every few minutes), its breach and late-签收 chunks, the morning digest.
    "worker.sweeps.sweep_deadlines": JobPolicy(
        "low", timeout=600, retry=Retry(max=2, interval=[30, 120])
    ),
    "worker.breach.handle_breaches": JobPolicy(
        "default", timeout=600, retry=Retry(max=5, interval=[10, 60, 300, 900, 3600])
    ),
    "worker.breach.handle_unsigned": JobPolicy(
        "default", timeout=600, retry=Retry(max=5, interval=[10, 60, 300, 900, 3600])
    ),
    "worker.digest.send_morning_digests": JobPolicy(
        "low", timeout=600, retry=Retry(max=3, interval=[60, 300, 900])
    ),
    "worker.schedule.morning_digests_if_due": JobPolicy("low", timeout=300),
    # Resident notifications (worker/notify.py) and 好差评 surveys (worker/surveys.py).
    "worker.notify.notify_event": JobPolicy(
        "default", timeout=60, retry=Retry(max=5, interval=[10, 30, 120, 600, 1800])
    ),
    # Up to 100 events, stored in one transaction and delivered in-process (worker.delivery
    # bounds each batch's sending to ~50 s).
    "worker.notify.notify_events": JobPolicy(
        "default", timeout=300, retry=Retry(max=5, interval=[10, 30, 120, 600, 1800])
    ),
    "worker.notify.catch_up": JobPolicy("low", timeout=600),
    "worker.notify.release_held": JobPolicy("low", timeout=600),
    "worker.surveys.survey_sweep": JobPolicy("low", timeout=600),
    "worker.surveys.monthly_review_if_due": JobPolicy("low", timeout=900),
    "worker.schedule.monthly_report_if_due": JobPolicy("low", timeout=900),
    # Recovery: every minute, re-hands work committed but lost to the queue (worker.recovery).
    "worker.recovery.sweep_recovery": JobPolicy("low", timeout=300),
    "worker.recovery.handle_inbound": JobPolicy(
        "high", timeout=120, retry=Retry(max=2, interval=[30, 120])
    ),
}


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


def enqueue(
    connection: Redis, job: str, *args: Any, job_id: str | None = None, unique: bool = False
) -> Job:
    """Queue `job` (a dotted path in POLICIES) with its declared queue, timeout and retries.

    Raises:
        KeyError: the job type is not declared in POLICIES.
        rq.exceptions.DuplicateJobError: `unique` and a job with `job_id` exists in Redis.
    """
    policy = POLICIES[job]
    return get_queue(policy.queue, connection).enqueue(
        job, *args, job_id=job_id, job_timeout=policy.timeout, retry=policy.retry, unique=unique
    )


# States in which a job will still run: queueing it again would only run it twice.
WILL_RUN = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED})


def enqueue_once(
    connection: Redis,
    job: str,
    *args: Any,
    job_id: str,
    delay: float = 0.0,
    replace_started: bool = False,
) -> bool:
    """Queue `job` under `job_id` (or schedule it `delay` seconds on) unless a job of that id
    will still run; False when one will. A finished or failed job's record is replaced, and so
    is a started one with `replace_started` (its worker died: the recovery sweep knows).
    """
    for _ in range(3):
        try:
            if delay > 0:
                policy = POLICIES[job]
                queue = get_queue(policy.queue, connection)
                scheduled = queue.create_job(
                    job,
                    args=args,
                    job_id=job_id,
                    timeout=policy.timeout,
                    retry=policy.retry,
                    status=JobStatus.SCHEDULED,
                )
                at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
                queue.schedule_job(scheduled, at, unique=True)
            else:
                enqueue(connection, job, *args, job_id=job_id, unique=True)
            return True
        except DuplicateJobError:
            existing = Job.fetch_many([job_id], connection=connection)[0]
            if existing is None:
                continue  # gone since: try again
            status = existing.get_status(refresh=False)
            if status in WILL_RUN and not (replace_started and status is JobStatus.STARTED):
                return False
            existing.delete()
    return False


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


class ThreadScheduler(RQScheduler):
    """RQ's scheduler in a thread instead of a forked process (embedded mode only).

    The embedded queue lives in this process's memory; a forked scheduler would see a copy of
    it and never move delayed jobs onto the real queues.
    """

    def _install_signal_handlers(self) -> None:
        return None

    def start(self) -> threading.Thread:
        """Run the scheduling loop in a daemon thread."""
        self._status = self.Status.STARTED
        thread = threading.Thread(target=self.work, name="zhitong-scheduler", daemon=True)
        self._process = thread  # type: ignore[assignment]  # the worker checks is_alive()
        thread.start()
        return thread


class ThreadWorker(SimpleWorker):
    """An RQ worker that runs in a thread of the web process (embedded mode only).

    Signals belong to the main thread, so this worker installs no handlers, enforces job
    timeouts with a timer instead of SIGALRM, and schedules in a thread (`ThreadScheduler`).
    """

    death_penalty_class = TimerDeathPenalty

    def _start_scheduler(self, burst: bool = False, *args: Any, **kwargs: Any) -> None:
        self.scheduler = ThreadScheduler(
            self.queues, connection=self.connection, serializer=self.serializer
        )
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            self.scheduler.start()

    def stop_scheduler(self) -> None:
        """Stop the scheduler thread (there is no process to signal)."""
        if self.scheduler is not None:
            self.scheduler.request_stop()

    def dequeue_job_and_maintain_ttl(self, timeout: Any, max_idle_time: Any = None) -> Any:
        """Wait for work a second at a time, so a stop request is honoured promptly."""
        while not self._stop_requested:
            result = super().dequeue_job_and_maintain_ttl(1, max_idle_time=1)
            if result is not None:
                return result
        return None

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
        scheduler = self.worker.scheduler
        if scheduler is not None:
            scheduler.request_stop()  # its loop releases the scheduling locks on the way out
            if isinstance(scheduler._process, threading.Thread):
                scheduler._process.join(timeout)


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


def run_worker(
    settings: Settings, queue_names: list[str], *, burst: bool = False, fork: bool | None = None
) -> bool:
    """Run an RQ worker in this process on the named queues (the `zhitong worker` command).

    `fork` (default: ZHITONG_WORKER_FORK) picks the worker kind. Without it (`SimpleWorker`),
    jobs run one after another in this process, reusing its database pool, Redis connection
    and Twilio client; a job's timeout is still enforced by RQ's SIGALRM death penalty in the
    main thread, but a job that crashes the interpreter takes the worker with it. With it
    (`ForkingWorker`), every job runs in a freshly forked child: a crash or a leak dies with
    the child, at the price of a fork and a new database connection per job. Either way the
    job modules and the process's services are loaded before the first job, so children
    inherit them instead of importing them per job.

    Raises:
        QueueUnavailableError: no Redis is configured or it cannot be reached.
    """
    from worker import runtime  # runtime imports this module

    if not settings.redis_url:
        raise QueueUnavailableError(
            "ZHITONG_REDIS_URL is not set: without Redis, `zhitong serve` runs the jobs itself"
        )
    connection = redis_connection(settings)
    try:
        connection.ping()
    except RedisError as exc:
        raise QueueUnavailableError(f"cannot reach Redis at ZHITONG_REDIS_URL: {exc}") from exc
    preload_jobs()
    previous = runtime.installed()
    services = runtime.build_services(settings)
    runtime.install(services)
    try:
        _warm_up()
        queues = [get_queue(name, connection) for name in queue_names or QUEUE_NAMES]
        forking = settings.worker_fork if fork is None else fork
        worker_class: type[BaseWorker] = ForkingWorker if forking else SimpleWorker
        worker = worker_class(queues, connection=connection)
        return bool(
            # RQ's per-job lines stay at WARNING, as configure_logging wants (work() resets it).
            worker.work(
                burst=burst,
                with_scheduler=True,
                logging_level=max(logging.WARNING, logging.getLevelName(settings.log_level)),
            )
        )
    finally:
        from worker.delivery import use_sender

        use_sender(None)  # made from these settings: forgotten with them
        runtime.install(previous)  # type: ignore[arg-type]  # None: nothing was installed
        services.close()
        connection.close()


def preload_jobs() -> None:
    """Import the module of every job in POLICIES, so no job pays for imports (or a forked
    child for each one of them).

    Raises:
        ImportError: a declared job's module is missing (a bad deployment: fail at start).
    """
    for job in POLICIES:
        importlib.import_module(job.rpartition(".")[0])


def _warm_up() -> None:
    """Load what jobs load lazily (the reply texts, the Twilio client and the modules it
    imports on first use), once, before the first job: a forked child inherits it instead of
    paying ~0.2 s per job. No connection is opened here, so children share no socket."""
    from bot.texts import texts
    from worker.delivery import sender

    texts()
    sender()


class ForkingWorker(Worker):
    """RQ's fork-per-job worker, safe with the process's SQLAlchemy engine.

    The child starts from a copy of the parent's pool: it forgets those connections without
    closing them (they are the parent's, `dispose(close=False)`), opens its own, and closes
    its own before it exits so PostgreSQL sees a clean goodbye.
    """

    def perform_job(self, job: Job, queue: Queue) -> bool:
        """Run the job; in a forked child, on a pool of the child's own."""
        if not self.is_horse:
            return super().perform_job(job, queue)
        from worker import runtime

        services = runtime.installed()
        if services is not None:
            services.engine.dispose(close=False)
        try:
            return super().perform_job(job, queue)
        finally:
            if services is not None:
                services.engine.dispose()
