"""Delivering outbound messages exactly once, with retries and opt-outs honoured."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.texts import sms_segments
from cases.models import Contact, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.settings import load_settings
from tests.fixtures.fake_twilio import FakeTwilio, running_fake_twilio
from tests.fixtures.messages import queued_outbound, stored_message
from tests.fixtures.services import services_for
from worker import delivery, recovery, runtime
from worker.long_messages import SMS_SEGMENTS_PER_PART
from worker.queue import get_queue
from worker.runtime import Services
from worker.senders import Outbound, SendError, SendResult, TwilioSender

NOW = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A recording Twilio API on loopback."""
    with running_fake_twilio() as fake:
        yield fake


@pytest.fixture
def services(engine: Engine, tmp_path, fake_twilio: FakeTwilio) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    """Runtime services on the test database with the Twilio sender pointed at the fake."""
    settings = load_settings(
        instance_path=tmp_path,
        twilio_account_sid="AC" + "2" * 32,
        twilio_auth_token="token",
        twilio_from="+8610690000",
        twilio_api_base=fake_twilio.base_url,
        public_url="https://12345.example.gov.cn",
    )
    built = services_for(engine, settings)
    runtime.install(built)
    delivery.use_sender(TwilioSender(settings))
    yield built
    delivery.use_sender(None)


def queued_message(
    session: Session, *, opted_out: bool = False, body: str = "您反映的路灯问题已修复。"
) -> int:
    """Commit one queued outbound SMS to a resident and return its id."""
    return queued_outbound(
        session,
        kind=AddressKind.PHONE,
        address="+8613800138000",
        phone="+8613800138000",
        channel=Channel.SMS,
        body=body,
        created_at=NOW,
        opted_out=opted_out,
    )


reload = stored_message


def test_deliver_sends_once_and_records_the_provider_id(
    services: Services, session: Session, fake_twilio: FakeTwilio
) -> None:
    """A queued message is sent with its status callback; running the job again sends nothing."""
    message_id = queued_message(session)
    assert delivery.deliver(message_id) == "sent"
    assert delivery.deliver(message_id) == "sent"
    (request,) = fake_twilio.sent()
    assert request["form"]["StatusCallback"] == "https://12345.example.gov.cn/twilio/sms/status"
    stored = reload(services, message_id)
    assert stored.status is MessageStatus.SENT and (stored.provider_id or "").startswith("SM")
    assert stored.attempts == 1


def test_opted_out_resident_is_never_messaged(
    services: Services, session: Session, fake_twilio: FakeTwilio
) -> None:
    """An address that sent 退订 gets nothing; the message is marked suppressed."""
    message_id = queued_message(session, opted_out=True)
    assert delivery.deliver(message_id) == "suppressed"
    assert fake_twilio.requests == []


def test_transient_failure_goes_back_to_the_queue_then_succeeds(
    services: Services, session: Session, fake_twilio: FakeTwilio
) -> None:
    """A 500 re-queues the message (and raises for RQ's retry); the retry sends it."""
    message_id = queued_message(session)
    fake_twilio.fail_next(500)
    with pytest.raises(SendError):
        delivery.deliver(message_id)
    stored = reload(services, message_id)
    assert stored.status is MessageStatus.QUEUED and stored.error_code == "500"
    assert delivery.deliver(message_id) == "sent"
    assert len(fake_twilio.sent()) == 1 and reload(services, message_id).attempts == 2


def test_permanent_failure_is_parked_with_the_code(
    services: Services, session: Session, fake_twilio: FakeTwilio
) -> None:
    """Twilio 21610 (unsubscribed) is recorded and not retried."""
    message_id = queued_message(session)
    fake_twilio.fail_next(400, 21610)
    assert delivery.deliver(message_id) == "failed"
    stored = reload(services, message_id)
    assert stored.status is MessageStatus.FAILED and stored.error_code == "21610"


def test_gives_up_after_the_last_attempt(
    services: Services, session: Session, fake_twilio: FakeTwilio
) -> None:
    """Transient failures stop being retried after MAX_ATTEMPTS; the reason stays visible."""
    message_id = queued_message(session)
    fake_twilio.fail_next(503, times=delivery.MAX_ATTEMPTS)
    for _ in range(delivery.MAX_ATTEMPTS - 1):
        with pytest.raises(SendError):
            delivery.deliver(message_id)
    assert delivery.deliver(message_id) == "failed"
    assert reload(services, message_id).error_message.startswith("Twilio refused")


def batch_of(session: Session, kinds: list[str]) -> list[int]:
    """Commit one outbound message per kind ("sms", "opted_out", "web"), each to its own
    resident, in one transaction; their ids in order."""
    ids = []
    for index, kind in enumerate(kinds):
        phone = f"+86139001{index:05d}"
        contact = Contact(
            kind=AddressKind.WEB if kind == "web" else AddressKind.PHONE,
            address=f"web:{index}" if kind == "web" else phone,
            phone="" if kind == "web" else phone,
            opted_out=kind == "opted_out",
        )
        session.add(contact)
        session.flush()
        message = Message(
            contact_id=contact.id,
            direction=Direction.OUTBOUND,
            channel=Channel.WEB if kind == "web" else Channel.SMS,
            body=f"通知 {index}",
            status=MessageStatus.QUEUED,
            created_at=NOW,
        )
        session.add(message)
        session.flush()
        ids.append(message.id)
    session.commit()
    return ids


def test_a_batch_records_each_outcome_and_retries_only_the_transient_failure(
    services: Services, session: Session, fake_twilio: FakeTwilio
) -> None:
    """One batch: a 500 (queued again, in a scheduled smaller batch after the backoff), a
    21610 (parked with the code), an opted-out resident (suppressed), a web chat message (left
    for the page) and a success; the retry sends the 500's message, and nothing twice."""
    transient, permanent, opted_out, web, fine = batch_of(
        session, ["sms", "sms", "opted_out", "web", "sms"]
    )
    assert f"{delivery.BATCH_PREFIX}{transient}-5" in get_queue("default", services.redis).job_ids
    fake_twilio.fail_next(500)
    fake_twilio.fail_next(400, 21610)
    result = delivery.deliver_batch([fine, web, opted_out, permanent, transient])
    assert result == {
        "sent": 1,
        "suppressed": 1,
        "failed": 1,
        "retrying": 1,
        "released": 0,
        "not_claimed": 1,
    }
    stored = {i: reload(services, i) for i in (transient, permanent, opted_out, web, fine)}
    assert stored[transient].status is MessageStatus.QUEUED
    assert stored[transient].error_code == "500" and stored[transient].attempts == 1
    assert stored[permanent].status is MessageStatus.FAILED
    assert stored[permanent].error_code == "21610"
    assert stored[opted_out].status is MessageStatus.SUPPRESSED
    assert stored[web].status is MessageStatus.QUEUED and stored[web].attempts == 0
    assert stored[fine].status is MessageStatus.SENT and stored[fine].provider_id
    # The retry waits for its backoff in a scheduled job; the recovery sweep leaves it alone.
    scheduled = ScheduledJobRegistry("default", connection=services.redis).get_job_ids()
    assert scheduled == [f"{delivery.BATCH_PREFIX}{transient}-1-t1"]
    assert delivery.batched_message_ids(services.redis) >= {transient}
    assert recovery.sweep_recovery(NOW + dt.timedelta(minutes=5)).requeued == 0
    assert delivery.deliver_batch([transient]) == {
        "sent": 1,
        "suppressed": 0,
        "failed": 0,
        "retrying": 0,
        "released": 0,
        "not_claimed": 0,
    }
    assert reload(services, transient).attempts == 2
    with services.sessions() as check:
        phones = {check.get(Contact, stored[i].contact_id).phone for i in (transient, fine)}  # type: ignore[union-attr]
    to = [request["form"]["To"] for request in fake_twilio.sent()]
    assert len(to) == 2 and set(to) == phones
    assert len(fake_twilio.requests) == 4


class GatedSender:
    """Sends through Twilio, but the first send waits until the test opens the gate."""

    name = "gated"

    def __init__(self, inner: TwilioSender) -> None:
        self.inner = inner
        self.sending = threading.Event()
        self.gate = threading.Event()

    def send(self, message: Outbound) -> SendResult:
        """Signal that a send started, wait for the gate, then send."""
        self.sending.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return self.inner.send(message)


def test_two_workers_running_the_same_batch_send_each_message_once(
    services: Services, session: Session, fake_twilio: FakeTwilio
) -> None:
    """While one worker sends a batch, another running the same ids claims none of them; the
    same batch queued again afterwards (and single jobs over it) send nothing more."""
    ids = batch_of(session, ["sms", "sms", "sms"])
    gated = GatedSender(TwilioSender(services.settings))
    delivery.use_sender(gated)
    results: list[dict[str, int]] = []
    first = threading.Thread(target=lambda: results.append(delivery.deliver_batch(ids)))
    first.start()
    try:
        assert gated.sending.wait(30)  # the first worker has claimed all three and is sending
        assert delivery.deliver_batch(ids)["not_claimed"] == 3
        assert {reload(services, i).status for i in ids} == {MessageStatus.SENDING}
    finally:
        gated.gate.set()
        first.join(30)
    assert results and results[0]["sent"] == 3
    delivery.enqueue_batch(services.redis, ids[::-1])
    for message_id in ids:
        delivery.enqueue_delivery(services.redis, message_id)
    SimpleWorker([get_queue("default", services.redis)], connection=services.redis).work(
        burst=True, logging_level="WARNING"
    )
    numbers = [request["form"]["To"] for request in fake_twilio.sent()]
    assert len(numbers) == len(set(numbers)) == 3
    assert {reload(services, i).status for i in ids} == {MessageStatus.SENT}
    assert {reload(services, i).attempts for i in ids} == {1}


def test_a_batch_stops_when_the_provider_is_down_and_returns_the_untried(
    services: Services, session: Session, fake_twilio: FakeTwilio
) -> None:
    """After BREAKER_FAILURES transient failures in a row the rest of the batch is not tried:
    those rows go back to `queued` with their attempt returned, queued with the failures."""
    count = delivery.BREAKER_FAILURES + 2
    ids = batch_of(session, ["sms"] * count)
    fake_twilio.fail_next(503, times=count)
    result = delivery.deliver_batch(ids)
    assert (result["retrying"], result["released"]) == (delivery.BREAKER_FAILURES, 2)
    assert len(fake_twilio.requests) == delivery.BREAKER_FAILURES
    attempts = [reload(services, i).attempts for i in ids]
    assert attempts == [1] * delivery.BREAKER_FAILURES + [0, 0]
    assert {reload(services, i).status for i in ids} == {MessageStatus.QUEUED}
    assert delivery.batched_message_ids(services.redis) >= set(ids)


def test_delivery_job_runs_on_the_real_redis(
    services: Services, session: Session, fake_twilio: FakeTwilio, redis_url: str
) -> None:
    """Enqueued twice on the real Redis, the job sends the message once."""
    message_id = queued_message(session)
    connection = Redis.from_url(redis_url)
    delivery.enqueue_delivery(connection, message_id)
    delivery.enqueue_delivery(connection, message_id)
    SimpleWorker([get_queue("default", connection)], connection=connection).work(burst=True)
    assert reload(services, message_id).status is MessageStatus.SENT
    assert len(fake_twilio.sent()) == 1


def test_a_long_message_goes_out_in_numbered_parts_cut_at_sentences(
    services: Services, session: Session, fake_twilio: FakeTwilio
) -> None:
    """A result text of 900 characters becomes parts of at most five segments, once."""
    sentence = "经现场核实，东澳镇渔港村码头路段的三盏路灯因线路老化损坏，已更换线路和灯具。"
    body = sentence * 24
    message_id = queued_message(session, body=body)
    assert delivery.deliver(message_id) == "sent"
    with services.sessions() as check:
        parts = check.scalars(
            select(Message)
            .where(Message.contact_id == reload(services, message_id).contact_id)
            .order_by(Message.id)
        ).all()
        assert len(parts) > 1
        for part in parts[1:]:
            assert part.status is MessageStatus.QUEUED and part.event_id is None
            assert delivery.deliver(part.id) == "sent"
    assert delivery.deliver(message_id) == "sent"  # a retried job cuts and sends nothing again
    sent = [request["form"]["Body"] for request in fake_twilio.sent()]
    assert len(sent) == len(parts)
    assert all(sms_segments(text) <= SMS_SEGMENTS_PER_PART for text in sent)
    assert all(text.endswith(f"/{len(parts)})") for text in sent)
    assert all(text.removesuffix(text[text.rindex("(") :]).endswith("。") for text in sent)
    assert "".join(text[: text.rindex("(")] for text in sent) == body


def test_a_delivery_is_queued_once_while_its_job_will_run_and_again_after(
    services: Services, session: Session, fake_twilio: FakeTwilio
) -> None:
    """Two asks while the job waits queue it once; after it finished, a re-queued message
    (an admin's retry) gets a fresh job instead of being stuck behind the old record."""
    message_id = queued_message(session)
    queue = get_queue("default", services.redis)
    delivery.enqueue_delivery(services.redis, message_id)
    delivery.enqueue_delivery(services.redis, message_id)
    assert queue.job_ids == [f"deliver-{message_id}"]
    SimpleWorker([queue], connection=services.redis).work(burst=True, logging_level="WARNING")
    assert reload(services, message_id).status is MessageStatus.SENT
    with services.sessions() as again:
        stored = again.get(Message, message_id)
        assert stored is not None
        stored.status = MessageStatus.QUEUED
        again.commit()
    delivery.enqueue_delivery(services.redis, message_id)
    assert queue.job_ids == [f"deliver-{message_id}"]
    SimpleWorker([queue], connection=services.redis).work(burst=True, logging_level="WARNING")
    assert len(fake_twilio.sent()) == 2


def test_the_sender_follows_the_installed_settings(  # type: ignore[no-untyped-def]
    engine: Engine,
    tmp_path,
    fake_twilio: FakeTwilio,
) -> None:
    """A process that installs other services (reconfigured, or the next test) gets a sender
    made from them, not one cached from settings that no longer apply."""
    delivery.use_sender(None)
    local = services_for(engine, load_settings(instance_path=tmp_path))
    runtime.install(local)
    assert delivery.sender().name == "local"
    twilio = services_for(
        engine,
        load_settings(
            instance_path=tmp_path,
            twilio_account_sid="AC" + "2" * 32,
            twilio_auth_token="token",
            twilio_from="+8610690000",
            twilio_api_base=fake_twilio.base_url,
        ),
    )
    runtime.install(twilio)
    assert delivery.sender().name == "twilio"
    assert delivery.sender() is delivery.sender()
