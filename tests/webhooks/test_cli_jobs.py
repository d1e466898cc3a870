"""`zhitong jobs failed|retry`: failed jobs and parked messages from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from cases import migrate
from cases.models import Contact, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from webhooks.cli import main
from worker.queue import get_queue


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> CliRunner:
    """A CLI on a migrated SQLite file and the real Redis."""
    url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    monkeypatch.setenv("ZHITONG_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("ZHITONG_DATABASE_URL", url)
    monkeypatch.setenv("ZHITONG_REDIS_URL", redis_url)
    monkeypatch.setenv("ZHITONG_LOG_FORMAT", "text")
    engine = create_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as session:
        contact = Contact(kind=AddressKind.PHONE, address="+8613800138000", phone="+8613800138000")
        session.add(contact)
        session.flush()
        session.add(
            Message(
                contact_id=contact.id,
                direction=Direction.OUTBOUND,
                channel=Channel.SMS,
                body="通知",
                status=MessageStatus.FAILED,
                attempts=6,
                error_code="21610",
                error_message="unsubscribed",
            )
        )
        session.commit()
    engine.dispose()
    return CliRunner()


def message_status(url: str) -> MessageStatus:
    """The one message's status as stored."""
    engine = create_engine(url)
    with Session(engine) as session:
        status = session.scalars(select(Message.status)).one()
    engine.dispose()
    return status


def test_failed_lists_jobs_and_parked_messages_and_retry_puts_them_back(
    runner: CliRunner, redis_url: str, tmp_path: Path
) -> None:
    """A failed job and a parked message are listed; each is retried once, then refused."""
    redis = Redis.from_url(redis_url)
    queue = get_queue("default", redis)
    job = queue.enqueue("tests.fixtures.jobs.fail", job_id="failing-job")
    SimpleWorker([queue], connection=redis).work(burst=True, logging_level="WARNING")

    listed = runner.invoke(main, ["jobs", "failed"])
    assert listed.exit_code == 0, listed.output
    assert "failing-job" in listed.output and "job failed on purpose" in listed.output
    assert "21610" in listed.output

    retried = runner.invoke(main, ["jobs", "retry", "job", job.id, "--queue", "default"])
    assert retried.exit_code == 0, retried.output
    assert queue.job_ids == ["failing-job"]
    again = runner.invoke(main, ["jobs", "retry", "job", job.id, "--queue", "default"])
    assert again.exit_code == 1

    url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    assert runner.invoke(main, ["jobs", "retry", "message", "1"]).exit_code == 0
    assert message_status(url) is MessageStatus.QUEUED
    assert runner.invoke(main, ["jobs", "retry", "message", "1"]).exit_code == 1
    assert runner.invoke(main, ["jobs", "retry", "job", "x"]).exit_code == 2  # no --queue
