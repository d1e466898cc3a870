"""`zhitong worker` with and without a fork per job, on the real Redis and PostgreSQL.

Without fork (the default) jobs run in the worker process on one database pool; with fork each
job runs in a child that neither uses nor closes the parent's pooled connections.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from cases.settings import Settings, load_settings
from tests.fixtures.nlu import project_model_path
from webhooks.cli import main
from worker import runtime
from worker.queue import ForkingWorker, get_queue, redis_connection, run_worker

PROCESS_ID = "tests.fixtures.jobs.process_id"
DATABASE_BACKEND = "tests.fixtures.jobs.database_backend"


def worker_settings(tmp_path: Path, redis_url: str, postgres_url: str, **extra: object) -> Settings:
    """Settings for a worker on the test Redis and PostgreSQL."""
    return load_settings(
        instance_path=tmp_path, redis_url=redis_url, database_url=postgres_url, **extra
    )


def backend_alive(postgres_url: str, backend: int) -> bool:
    """Whether PostgreSQL still has a session with this backend pid."""
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            return bool(
                connection.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": backend},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_no_fork_runs_jobs_in_the_worker_process_on_one_pool(
    redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    """SimpleWorker: the jobs run here, and the second job reuses the first one's connection."""
    settings = worker_settings(tmp_path, redis_url, postgres_url)
    queue = get_queue("default", redis_connection(settings))
    where = queue.enqueue(PROCESS_ID)
    first, second = queue.enqueue(DATABASE_BACKEND), queue.enqueue(DATABASE_BACKEND)
    before = runtime.installed()
    assert run_worker(settings, ["default"], burst=True, fork=False) is True
    assert where.return_value(refresh=True) == os.getpid()
    assert first.return_value(refresh=True) == second.return_value(refresh=True) is not None
    assert runtime.installed() is before  # the worker's services went with it


def test_fork_runs_each_job_in_a_child_with_its_own_connection(
    redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    """Fork per job: another process, a connection per child, closed when the child ends."""
    settings = worker_settings(tmp_path, redis_url, postgres_url)
    queue = get_queue("default", redis_connection(settings))
    where = queue.enqueue(PROCESS_ID)
    first, second = queue.enqueue(DATABASE_BACKEND), queue.enqueue(DATABASE_BACKEND)
    assert run_worker(settings, ["default"], burst=True, fork=True) is True
    assert where.return_value(refresh=True) not in (None, os.getpid())
    backends = [int(job.return_value(refresh=True) or 0) for job in (first, second)]
    assert 0 not in backends and backends[0] != backends[1]
    deadline = time.monotonic() + 10  # a backend goes a moment after its client said goodbye
    while any(backend_alive(postgres_url, b) for b in backends) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(backend_alive(postgres_url, b) for b in backends)


def test_forked_child_leaves_the_parents_pooled_connection_alone(
    redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    """The parent's pool holds a connection at the fork: the child neither uses nor closes it."""
    settings = worker_settings(tmp_path, redis_url, postgres_url)
    previous = runtime.installed()
    services = runtime.build_services(settings)
    runtime.install(services)
    try:
        with services.engine.connect() as connection:  # back in the pool, open, at the fork
            parent = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        queue = get_queue("default", redis_connection(settings))
        job = queue.enqueue(DATABASE_BACKEND)
        ForkingWorker([queue], connection=queue.connection).work(burst=True)
        assert job.return_value(refresh=True) not in (None, parent)
        with services.engine.connect() as connection:  # pre-ping would replace a closed one
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() == parent
    finally:
        runtime.install(previous)  # type: ignore[arg-type]
        services.close()


@pytest.mark.parametrize(
    ("environment", "flag", "forked"),
    [
        ({}, [], False),
        ({}, ["--fork"], True),
        ({"ZHITONG_WORKER_FORK": "true"}, [], True),
        ({"ZHITONG_WORKER_FORK": "true"}, ["--no-fork"], False),
    ],
)
def test_worker_command_fork_option_and_setting(
    redis_url: str,
    postgres_url: str,
    tmp_path: Path,
    environment: dict[str, str],
    flag: list[str],
    forked: bool,
) -> None:
    """`--fork/--no-fork` wins over ZHITONG_WORKER_FORK, whose default is no fork."""
    env = {
        "ZHITONG_REDIS_URL": redis_url,
        "ZHITONG_DATABASE_URL": postgres_url,
        "ZHITONG_INSTANCE_PATH": str(tmp_path),
        "ZHITONG_NLU_MODEL_PATH": str(project_model_path()),
        **environment,
    }
    queue = get_queue("default", redis_connection(load_settings(redis_url=redis_url)))
    job = queue.enqueue(PROCESS_ID)
    result = CliRunner().invoke(main, ["worker", "--queue", "default", "--burst", *flag], env=env)
    assert result.exit_code == 0, result.output
    ran_in = job.return_value(refresh=True)
    assert ran_in is not None
    assert (ran_in != os.getpid()) is forked
