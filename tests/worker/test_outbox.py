"""Committed queued messages are handed to the delivery job; rolled-back ones are not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cases.models import Contact, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.settings import load_settings
from tests.fixtures.services import services_for
from worker import runtime
from worker.queue import get_queue
from worker.runtime import Services


@pytest.fixture
def services(engine: Engine, tmp_path) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    """Runtime services with an in-memory queue, installed for the session hooks."""
    settings = load_settings(instance_path=tmp_path)
    built = services_for(engine, settings)
    previous = runtime.installed()
    runtime.install(built)
    yield built
    if previous is not None:
        runtime.install(previous)


def add_queued(session: Session) -> Message:
    """Flush one queued outbound message to a new contact."""
    contact = Contact(kind=AddressKind.PHONE, address="+8613900123456", phone="+8613900123456")
    session.add(contact)
    session.flush()
    message = Message(
        contact_id=contact.id,
        direction=Direction.OUTBOUND,
        channel=Channel.SMS,
        body="您的事项已办结。",
        status=MessageStatus.QUEUED,
    )
    session.add(message)
    session.flush()
    return message


def test_commit_queues_delivery(services: Services, session: Session) -> None:
    """After commit the delivery job for the message is on the default queue."""
    message = add_queued(session)
    session.commit()
    assert f"deliver-{message.id}" in get_queue("default", services.redis).job_ids


def test_rollback_queues_nothing(services: Services, session: Session) -> None:
    """Work that was rolled back sends no message."""
    add_queued(session)
    session.rollback()
    assert get_queue("default", services.redis).job_ids == []


def test_commit_of_several_messages_queues_one_batch(services: Services, session: Session) -> None:
    """A transaction that stored several messages gets one deliver_batch job for all of them."""
    first = add_queued(session)
    contact = Contact(kind=AddressKind.PHONE, address="+8613900123457", phone="+8613900123457")
    session.add(contact)
    session.flush()
    second = Message(
        contact_id=contact.id,
        direction=Direction.OUTBOUND,
        channel=Channel.SMS,
        body="您的事项已交办。",
        status=MessageStatus.QUEUED,
    )
    session.add(second)
    session.commit()
    (job,) = get_queue("default", services.redis).get_jobs()
    assert job.func_name == "worker.delivery.deliver_batch"
    assert job.args == ([first.id, second.id],)
