"""The recovery sweep: unhandled inbound, stale sends, orphaned queued messages (both databases)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from rq import SimpleWorker
from rq.job import Job
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cases.models import Contact, Conversation, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.settings import Settings
from tests.fixtures.nlu import project_model
from tests.fixtures.services import services_for
from worker import delivery, recovery, runtime, shell, understanding
from worker.queue import QUEUE_NAMES, get_queue
from worker.runtime import Services

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # 10:00 in the county
RESIDENT = "+8613900123456"


@pytest.fixture
def services(engine: Engine, demo_session: Session, settings: Settings) -> Iterator[Services]:
    """Services on the test database with a private in-memory Redis, installed for jobs."""
    built = services_for(engine, settings)
    built.redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    runtime.install(built)
    understanding.use_interpreter(project_model())
    understanding.forget_gazetteer()
    delivery.use_sender(None)
    yield built
    runtime.install(None)  # type: ignore[arg-type]
    understanding.use_interpreter(None)
    understanding.forget_gazetteer()
    delivery.use_sender(None)


def add_message(services: Services, **fields: Any) -> int:
    """Store one message of a resident's SMS conversation; its id."""
    with services.sessions() as session:
        contact = session.scalars(select(Contact).where(Contact.address == RESIDENT)).first()
        if contact is None:
            contact = Contact(kind=AddressKind.PHONE, address=RESIDENT, phone=RESIDENT)
            session.add(contact)
            session.flush()
        conversation = session.scalars(
            select(Conversation).where(Conversation.contact_id == contact.id)
        ).first()
        if conversation is None:
            conversation = Conversation(contact_id=contact.id, channel=Channel.SMS, state={})
            session.add(conversation)
            session.flush()
        values: dict[str, Any] = {
            "conversation_id": conversation.id,
            "contact_id": contact.id,
            "channel": Channel.SMS,
            "media": [],
            "created_at": NOW - dt.timedelta(minutes=10),
        } | fields
        message = Message(**values)
        session.add(message)
        session.commit()
        return message.id


def inbound(services: Services, body: str = "你好", **fields: Any) -> int:
    """A resident's message, committed and never handled."""
    values = {"direction": Direction.INBOUND, "status": MessageStatus.RECEIVED, "body": body}
    return add_message(services, **(values | fields))


def outbound(services: Services, status: MessageStatus, **fields: Any) -> int:
    """A reply to the resident in `status`; Redis then forgets every job (as after an outage)."""
    values = {"direction": Direction.OUTBOUND, "status": status, "body": "您好，已收到。"}
    message_id = add_message(services, **(values | fields))
    services.redis.flushall()
    return message_id


def stored(services: Services, message_id: int) -> Message:
    """The message as stored now."""
    with services.sessions() as session:
        message = session.get(Message, message_id)
        assert message is not None
        session.expunge(message)
        return message


def queued_ids(services: Services) -> list[str]:
    """Every job id waiting on any queue."""
    return [
        job_id for name in QUEUE_NAMES for job_id in get_queue(name, services.redis).get_job_ids()
    ]


def run_jobs(services: Services) -> None:
    """Run every queued job in this process until the queues are empty."""
    queues = [get_queue(name, services.redis) for name in QUEUE_NAMES]
    SimpleWorker(queues, connection=services.redis).work(burst=True, logging_level="WARNING")


def test_unhandled_inbound_is_handled_once(services: Services) -> None:
    """A message left `received` gets one job however often the sweep runs; it is answered once."""
    message_id = inbound(services, "东门社区路灯坏了")
    first = recovery.sweep_recovery(NOW)
    second = recovery.sweep_recovery(NOW)
    assert (first.inbound, second.inbound) == (1, 0)
    assert queued_ids(services) == [f"inbound-{message_id}"]
    run_jobs(services)
    assert stored(services, message_id).status is MessageStatus.PROCESSED
    with services.sessions() as session:
        replies = session.scalars(
            select(Message).where(Message.direction == Direction.OUTBOUND)
        ).all()
    assert replies
    assert {reply.status for reply in replies} == {MessageStatus.SENT}
    assert recovery.sweep_recovery(NOW).inbound == 0


def test_recent_inbound_is_left_to_the_webhook(services: Services) -> None:
    """A message younger than the grace period may still be in the webhook's hands."""
    inbound(services, created_at=NOW - dt.timedelta(seconds=30))
    assert recovery.sweep_recovery(NOW).inbound == 0
    assert queued_ids(services) == []


def test_finished_inbound_job_is_replaced(services: Services) -> None:
    """A job that ran but left the message `received` (killed before commit) is queued again."""
    message_id = inbound(services)
    recovery.sweep_recovery(NOW)
    job = Job.fetch(f"inbound-{message_id}", connection=services.redis)
    get_queue("high", services.redis).remove(job)
    job.set_status("failed")
    assert recovery.sweep_recovery(NOW).inbound == 1
    assert queued_ids(services) == [f"inbound-{message_id}"]


class BrokenInterpreter:
    """An NLU that always fails, as a crashing model server would."""

    def parse(self, text: str) -> dict[str, Any]:
        """Raise."""
        raise RuntimeError("model server down")


def test_failing_inbound_is_parked_after_max_attempts(services: Services) -> None:
    """Each failed run counts an attempt; after the last the message is parked for a person."""
    message_id = inbound(services)
    understanding.use_interpreter(BrokenInterpreter())
    for _ in range(shell.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            recovery.handle_inbound(message_id)
    parked = stored(services, message_id)
    assert parked.status is MessageStatus.FAILED
    assert parked.attempts == shell.MAX_ATTEMPTS
    assert parked.error_message == "RuntimeError"
    with services.sessions() as session:
        conversation = session.get(Conversation, parked.conversation_id)
        assert conversation is not None and conversation.handoff_requested_at is not None
    assert recovery.handle_inbound(message_id) == "skipped"
    assert recovery.sweep_recovery(NOW).inbound == 0


def test_stale_sending_is_sent_again(services: Services) -> None:
    """A send whose worker died is put back to `queued` and delivered; a second sweep is a no-op."""
    message_id = outbound(
        services, MessageStatus.SENDING, attempts=1, claimed_at=NOW - dt.timedelta(minutes=5)
    )
    first = recovery.sweep_recovery(NOW)
    second = recovery.sweep_recovery(NOW)
    assert (first.reclaimed, second.reclaimed, second.requeued) == (1, 0, 0)
    assert queued_ids(services) == [f"deliver-{message_id}"]
    run_jobs(services)
    sent = stored(services, message_id)
    assert sent.status is MessageStatus.SENT
    assert sent.attempts == 2


def test_recent_sending_is_left_alone(services: Services) -> None:
    """A send claimed within the job's timeout may still be running."""
    message_id = outbound(
        services, MessageStatus.SENDING, attempts=1, claimed_at=NOW - dt.timedelta(seconds=30)
    )
    result = recovery.sweep_recovery(NOW)
    assert (result.reclaimed, result.parked, result.requeued) == (0, 0, 0)
    assert stored(services, message_id).status is MessageStatus.SENDING


def test_stale_sending_after_last_attempt_is_parked(services: Services) -> None:
    """A message whose every delivery attempt died mid-send is parked with a reason."""
    message_id = outbound(
        services,
        MessageStatus.SENDING,
        attempts=delivery.MAX_ATTEMPTS,
        claimed_at=NOW - dt.timedelta(minutes=5),
    )
    result = recovery.sweep_recovery(NOW)
    assert (result.parked, result.reclaimed) == (1, 0)
    parked = stored(services, message_id)
    assert parked.status is MessageStatus.FAILED
    assert parked.error_code == recovery.INTERRUPTED
    assert queued_ids(services) == []


def test_queued_without_job_is_queued_again(services: Services) -> None:
    """A message committed while Redis was down gets its delivery job, once."""
    message_id = outbound(services, MessageStatus.QUEUED)
    assert recovery.sweep_recovery(NOW).requeued == 1
    assert recovery.sweep_recovery(NOW).requeued == 0
    assert queued_ids(services) == [f"deliver-{message_id}"]
    run_jobs(services)
    assert stored(services, message_id).status is MessageStatus.SENT
    assert recovery.sweep_recovery(NOW).requeued == 0


def test_queued_with_a_live_job_is_left_alone(services: Services) -> None:
    """A queued message whose job waits (or is scheduled for a retry) is not queued twice."""
    message_id = outbound(services, MessageStatus.QUEUED)
    delivery.enqueue_delivery(services.redis, message_id)
    assert recovery.sweep_recovery(NOW).requeued == 0
    assert queued_ids(services) == [f"deliver-{message_id}"]


def test_recent_queued_is_left_to_the_outbox(services: Services) -> None:
    """A message queued a moment ago is probably being handed to the queue right now."""
    outbound(services, MessageStatus.QUEUED, created_at=NOW - dt.timedelta(seconds=20))
    assert recovery.sweep_recovery(NOW).requeued == 0


def test_many_messages_are_taken_in_batches(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More rows than one batch are all found, each handed on once."""
    monkeypatch.setattr(recovery, "BATCH", 2)
    ids = [outbound(services, MessageStatus.QUEUED) for _ in range(5)]
    assert recovery.sweep_recovery(NOW).requeued == 5
    assert sorted(queued_ids(services)) == sorted(f"deliver-{i}" for i in ids)


def test_overlapping_sweeps_skip(services: Services) -> None:
    """A sweep that finds another one running does nothing."""
    lock = services.redis.lock(recovery.LOCK_KEY, timeout=60)
    assert lock.acquire()
    assert recovery.sweep_recovery(NOW).skipped
    lock.release()
    assert not recovery.sweep_recovery(NOW).skipped
