"""Queues on the real Redis and on the embedded in-process server."""

from __future__ import annotations

import time

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.job import JobStatus

from cases.settings import load_settings
from worker.exceptions import QueueUnavailableError
from worker.queue import (
    QUEUE_NAMES,
    check_queue,
    get_queue,
    redis_connection,
    run_worker,
    start_embedded_worker,
)


def wait_for(job, timeout: float = 10.0) -> JobStatus:  # type: ignore[no-untyped-def]
    """Poll a job until it finishes or fails (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job.get_status(refresh=True)
        if status in {JobStatus.FINISHED, JobStatus.FAILED}:
            return status
        time.sleep(0.05)
    return job.get_status(refresh=True)


def test_real_redis_runs_jobs_from_every_queue(redis_url: str) -> None:
    """A job on each named queue of the real Redis is run by an RQ worker."""
    connection = Redis.from_url(redis_url)
    queues = [get_queue(name, connection) for name in QUEUE_NAMES]
    jobs = [queue.enqueue("tests.fixtures.jobs.add", i, 1) for i, queue in enumerate(queues)]
    SimpleWorker(queues, connection=connection).work(burst=True)
    assert [job.return_value(refresh=True) for job in jobs] == [1, 2, 3]


def test_real_redis_records_failed_jobs(redis_url: str) -> None:
    """A job that raises lands in the failed registry with its traceback."""
    connection = Redis.from_url(redis_url)
    queue = get_queue("default", connection)
    job = queue.enqueue("tests.fixtures.jobs.fail")
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert job.id in queue.failed_job_registry.get_job_ids()


def test_embedded_worker_thread_runs_jobs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Without Redis, the in-process worker thread runs queued jobs."""
    settings = load_settings(instance_path=tmp_path)
    connection = redis_connection(settings)
    embedded = start_embedded_worker(connection)
    try:
        job = get_queue("high", connection).enqueue("tests.fixtures.jobs.add", 20, 22)
        assert wait_for(job) == JobStatus.FINISHED
        assert job.return_value(refresh=True) == 42
    finally:
        embedded.stop()
    assert not embedded.thread.is_alive()


def test_check_queue_reports_depth_and_workers(redis_url: str) -> None:
    """Health of the real Redis: reachable, with per-queue depth."""
    connection = Redis.from_url(redis_url)
    get_queue("low", connection).enqueue("tests.fixtures.jobs.add", 1, 1)
    health = check_queue(connection, embedded=False)
    assert health.ok and health.mode == "redis"
    assert health.depth == {"high": 0, "default": 0, "low": 1}


def test_check_queue_reports_unreachable_redis() -> None:
    """A Redis that does not answer makes the health check say so, without raising."""
    connection = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    health = check_queue(connection, embedded=False)
    assert not health.ok and health.error


def test_unknown_queue_name_is_refused() -> None:
    """Only the three declared queues exist."""
    with pytest.raises(ValueError, match="unknown queue"):
        get_queue("urgent", Redis())


def test_worker_command_needs_redis(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`zhitong worker` without ZHITONG_REDIS_URL explains that serve runs the jobs itself."""
    with pytest.raises(QueueUnavailableError, match="ZHITONG_REDIS_URL"):
        run_worker(load_settings(instance_path=tmp_path), [])


def test_worker_command_reports_unreachable_redis(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A configured but dead Redis is a clear error, not a hang."""
    settings = load_settings(instance_path=tmp_path, redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(QueueUnavailableError, match="cannot reach Redis"):
        run_worker(settings, [], burst=True)


def test_worker_command_drains_real_redis(redis_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`run_worker` in burst mode works every queue on the real Redis and returns."""
    settings = load_settings(instance_path=tmp_path, redis_url=redis_url)
    connection = redis_connection(settings)
    job = get_queue("default", connection).enqueue("tests.fixtures.jobs.add", 2, 3)
    assert run_worker(settings, ["default"], burst=True) is True
    assert job.return_value(refresh=True) == 5


def test_embedded_scheduler_moves_delayed_jobs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A job enqueued for later runs in embedded mode (the scheduler shares the process)."""
    import datetime as dt

    settings = load_settings(instance_path=tmp_path)
    connection = redis_connection(settings)
    embedded = start_embedded_worker(connection)
    try:
        job = get_queue("default", connection).enqueue_in(
            dt.timedelta(seconds=1), "tests.fixtures.jobs.add", 1, 2
        )
        assert wait_for(job, timeout=15) == JobStatus.FINISHED
    finally:
        embedded.stop()
