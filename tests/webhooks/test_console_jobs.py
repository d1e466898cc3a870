"""The failed-jobs page: administrators see failed jobs and parked messages and retry them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cases.clock import Clock
from cases.db import make_session_factory
from cases.models import Contact, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.settings import Settings
from tests.fixtures.console import demo_settings, post_form, sign_in
from webhooks.app import create_app
from webhooks.extensions import Services
from worker import runtime
from worker.queue import get_queue

assert demo_settings  # a fixture, used by name
pytestmark = pytest.mark.redis


@pytest.fixture
def redis(redis_url: str) -> Redis:
    """The real Redis (a private database, emptied around the test)."""
    return Redis.from_url(redis_url)


@pytest.fixture
def app(
    demo_settings: Settings, engine: Engine, demo_session: Session, clock: Clock, redis: Redis
) -> Iterator[Flask]:
    """The console on the demo county with its queue on the real Redis."""
    services = Services(demo_settings, engine, make_session_factory(engine), redis, clock)
    yield create_app(demo_settings, services)
    runtime.install(None)  # type: ignore[arg-type]


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    """A client signed in as the demo administrator."""
    client = app.test_client()
    sign_in(client, "admin")
    return client


def failed_job(redis: Redis) -> str:
    """Run a job that raises, so it ends in the "high" queue's failed registry; its id."""
    job = get_queue("high", redis).enqueue("tests.fixtures.jobs.fail")
    SimpleWorker([get_queue("high", redis)], connection=redis).work(
        burst=True, logging_level="WARNING"
    )
    return job.id


def parked(session: Session, direction: Direction, code: str = "") -> int:
    """A message parked `failed`; its id."""
    phone = f"+86139001234{session.query(Message).count():02d}"
    contact = Contact(kind=AddressKind.PHONE, address=phone, phone=phone)
    session.add(contact)
    session.flush()
    message = Message(
        contact_id=contact.id,
        direction=direction,
        channel=Channel.SMS,
        status=MessageStatus.FAILED,
        body="…",
        media=[],
        attempts=3,
        error_code=code,
        error_message="Twilio refused the message (400, code 21610)" if code else "RuntimeError",
    )
    session.add(message)
    session.commit()
    return message.id


def test_admin_sees_failed_jobs_and_parked_messages(
    admin: FlaskClient, redis: Redis, demo_session: Session
) -> None:
    """The page lists the job with its function and error, and parked messages with codes."""
    job_id = failed_job(redis)
    parked(demo_session, Direction.OUTBOUND, code="21610")
    page = admin.get("/console/jobs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert job_id in html
    assert "tests.fixtures.jobs.fail" in html
    assert "RuntimeError: job failed on purpose" in html
    assert "21610" in html
    assert 'href="/console/jobs"' in html  # in the nav


def test_admin_retries_a_failed_job(admin: FlaskClient, redis: Redis) -> None:
    """Retry moves the job from the failed registry back onto its queue."""
    job_id = failed_job(redis)
    response = post_form(admin, f"/console/jobs/high/{job_id}/retry", {})
    assert response.status_code == 302
    assert get_queue("high", redis).get_job_ids() == [job_id]
    again = post_form(admin, f"/console/jobs/high/{job_id}/retry", {})
    assert again.status_code == 302  # no longer failed: a message, not an error page
    assert get_queue("high", redis).get_job_ids() == [job_id]


def test_retry_without_csrf_token_is_refused(admin: FlaskClient, redis: Redis) -> None:
    """A retry is a form post: no token, no retry."""
    job_id = failed_job(redis)
    assert admin.post(f"/console/jobs/high/{job_id}/retry").status_code == 400
    assert get_queue("high", redis).get_job_ids() == []


def test_admin_retries_parked_messages(
    admin: FlaskClient, redis: Redis, demo_session: Session
) -> None:
    """A parked reply is queued for delivery again; a parked inbound goes back to the bot."""
    out_id = parked(demo_session, Direction.OUTBOUND, code="21610")
    assert post_form(admin, f"/console/jobs/messages/{out_id}/retry", {}).status_code == 302
    in_id = parked(demo_session, Direction.INBOUND)
    assert post_form(admin, f"/console/jobs/messages/{in_id}/retry", {}).status_code == 302
    demo_session.expire_all()
    reply, message = demo_session.get(Message, out_id), demo_session.get(Message, in_id)
    assert reply is not None and message is not None
    assert (reply.status, reply.attempts, reply.error_code) == (MessageStatus.QUEUED, 0, "")
    assert message.status is MessageStatus.RECEIVED
    assert get_queue("default", redis).get_job_ids() == [f"deliver-{out_id}"]
    assert get_queue("high", redis).get_job_ids() == [f"inbound-{in_id}"]


@pytest.mark.parametrize("username", ["supervisor", "proxy_dongmen"])
def test_others_are_refused(app: Flask, redis: Redis, demo_session: Session, username: str) -> None:
    """Anyone but an administrator gets 403 on the page and on retries."""
    job_id = failed_job(redis)
    message_id = parked(demo_session, Direction.OUTBOUND)
    client = app.test_client()
    sign_in(client, username)
    assert client.get("/console/jobs").status_code == 403
    assert post_form(client, f"/console/jobs/high/{job_id}/retry", {}).status_code == 403
    assert post_form(client, f"/console/jobs/messages/{message_id}/retry", {}).status_code == 403
    assert "/console/jobs" not in client.get("/console/").get_data(as_text=True)
    assert get_queue("high", redis).get_job_ids() == []
