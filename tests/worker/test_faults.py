"""Faults with the real Redis and PostgreSQL: a killed worker, Redis down, a failing provider.

In each, every message is processed once and every reply reaches the (fake) provider once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.registry import StartedJobRegistry
from sqlalchemy import Engine, select, text
from twilio.request_validator import RequestValidator

from cases import migrate
from cases.db import make_engine, make_session_factory
from cases.demo import load_demo_county
from cases.models import Contact, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.settings import Settings, load_settings
from tests.conftest import empty_tables
from tests.fixtures.fake_twilio import FakeTwilio, running_fake_twilio
from tests.fixtures.nlu import project_model, project_model_path
from tests.fixtures.services import services_for
from webhooks.app import create_app
from worker import delivery, recovery, runtime, understanding
from worker.queue import POLICIES, QUEUE_NAMES, JobPolicy, get_queue
from worker.runtime import Services

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.postgres]

TOKEN = "12345678901234567890123456789012"
SID = "AC" + "3" * 32
PUBLIC = "https://12345.example.gov.cn"
WAIT_SECONDS = 240  # a bound on waiting for a subprocess on a shared machine; not a speed
ZHITONG = str(Path(sys.executable).with_name("zhitong"))


@pytest.fixture
def pg_engine(postgres_url: str, migrated_engines: dict[str, Engine]) -> Iterator[Engine]:
    """The session's PostgreSQL database, migrated, holding the demo county; emptied after."""
    if postgres_url not in migrated_engines:
        created = make_engine(postgres_url)
        migrate.upgrade(created)
        migrated_engines[postgres_url] = created
    engine = migrated_engines[postgres_url]
    with make_session_factory(engine)() as session:
        load_demo_county(session)
        session.commit()
    yield engine
    empty_tables(engine)


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    """The loopback Twilio."""
    with running_fake_twilio() as served:
        yield served


def twilio_settings(
    tmp_path: Path, fake: FakeTwilio, redis_url: str, database_url: str
) -> Settings:
    """Production-mode settings: PostgreSQL, Redis, Twilio pointed at the fake."""
    return load_settings(
        instance_path=tmp_path / "instance",
        secret_key="s",
        log_format="text",
        database_url=database_url,
        redis_url=redis_url,
        public_url=PUBLIC,
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from="+8612345",
        twilio_api_base=fake.base_url,
        nlu_model_path=project_model_path(),
    )


@pytest.fixture
def installed(pg_engine: Engine) -> Iterator[Callable[[Settings, Redis], Services]]:
    """Installs services for in-process jobs; restores the process's state afterwards."""

    def install(settings: Settings, redis: Redis) -> Services:
        services = services_for(pg_engine, settings)
        services.redis = redis
        runtime.install(services)
        return services

    delivery.use_sender(None)
    understanding.use_interpreter(project_model())
    understanding.forget_gazetteer()
    yield install
    runtime.install(None)  # type: ignore[arg-type]
    delivery.use_sender(None)
    understanding.use_interpreter(None)
    understanding.forget_gazetteer()


def queued_replies(engine: Engine, count: int) -> list[int]:
    """`count` outbound SMS committed as `queued` (the outbox queues them); their ids."""
    ids = []
    with make_session_factory(engine)() as session:
        known = len(session.scalars(select(Contact.id)).all())
        for n in range(known, known + count):
            phone = f"+861390012{n:04d}"
            contact = Contact(kind=AddressKind.PHONE, address=phone, phone=phone)
            session.add(contact)
            session.flush()
            message = Message(
                contact_id=contact.id,
                direction=Direction.OUTBOUND,
                channel=Channel.SMS,
                status=MessageStatus.QUEUED,
                body=f"回复 {n}",
                media=[],
            )
            session.add(message)
            session.flush()
            ids.append(message.id)
        session.commit()
    return ids


def statuses(engine: Engine, direction: Direction) -> Counter[MessageStatus]:
    """How many messages of `direction` are in each status."""
    with make_session_factory(engine)() as session:
        return Counter(
            session.scalars(select(Message.status).where(Message.direction == direction))
        )


def provider_counts(fake: FakeTwilio) -> Counter[tuple[str, str]]:
    """Accepted requests per (recipient, text): every value must be 1."""
    return Counter((r["form"]["To"], r["form"]["Body"]) for r in fake.sent())


def run_jobs(redis: Redis) -> None:
    """Run every queued job in this process until the queues are empty."""
    queues = [get_queue(name, redis) for name in QUEUE_NAMES]
    SimpleWorker(queues, connection=redis).work(burst=True, logging_level="WARNING")


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition` holds (bounded, so a broken run fails instead of hanging)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


def worker_process(settings: Settings, tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """`zhitong worker` in its own process group, configured by environment as in production."""
    env = os.environ | {
        "ZHITONG_DATABASE_URL": settings.database_url,
        "ZHITONG_REDIS_URL": settings.redis_url,
        "ZHITONG_INSTANCE_PATH": str(settings.instance_path),
        "ZHITONG_SECRET_KEY": "s",
        "ZHITONG_PUBLIC_URL": PUBLIC,
        "ZHITONG_TWILIO_ACCOUNT_SID": SID,
        "ZHITONG_TWILIO_AUTH_TOKEN": TOKEN,
        "ZHITONG_TWILIO_FROM": "+8612345",
        "ZHITONG_TWILIO_API_BASE": settings.twilio_api_base,
        "ZHITONG_NLU_MODEL_PATH": str(settings.nlu_model_path),
        "ZHITONG_LOG_FORMAT": "text",
        "ZHITONG_LOG_LEVEL": "WARNING",
    }
    with (tmp_path / f"worker-{time.monotonic_ns()}.log").open("wb") as log:
        return subprocess.Popen(
            [ZHITONG, "worker", *args], env=env, stdout=log, stderr=log, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal the worker's whole process group (main process and work horse) and reap it."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
    process.wait(timeout=WAIT_SECONDS)


def test_worker_killed_mid_job_sends_each_message_once(
    pg_engine: Engine,
    postgres_url: str,
    redis_url: str,
    fake: FakeTwilio,
    tmp_path: Path,
    installed: Callable[[Settings, Redis], Services],
) -> None:
    """SIGKILL while a delivery waits on its row: RQ retries it, and nothing is sent twice."""
    settings = twilio_settings(tmp_path, fake, redis_url, postgres_url)
    redis = Redis.from_url(redis_url)
    installed(settings, redis)
    ids = queued_replies(pg_engine, 3)
    # Hold the first message's row: the worker's claim (queued → sending) waits on it, a
    # deterministic point inside the job and before any request to the provider.
    holder = pg_engine.connect()
    holder.execute(text("SELECT id FROM messages WHERE id = :id FOR UPDATE"), {"id": ids[0]})
    first = worker_process(settings, tmp_path, "--queue", "default")
    try:

        def claim_waits() -> bool:
            with pg_engine.connect() as probe:
                return bool(
                    probe.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND query LIKE 'UPDATE messages%'"
                        )
                    )
                )

        wait_for(claim_waits, "the worker to block on its claim")
        stop(first, signal.SIGKILL)
    finally:
        stop(first, signal.SIGKILL)
        holder.rollback()
        holder.close()
    assert fake.sent() == []
    assert statuses(pg_engine, Direction.OUTBOUND) == Counter({MessageStatus.QUEUED: 3})
    # The dead worker's job is abandoned once its registry entry expires (as time passes RQ
    # finds it); RQ then retries it per its policy.
    StartedJobRegistry("default", connection=redis).cleanup(timestamp=time.time() + 3600)
    second = worker_process(settings, tmp_path, "--queue", "default")
    try:
        wait_for(
            lambda: statuses(pg_engine, Direction.OUTBOUND)[MessageStatus.SENT] == 3,
            "every reply to be sent",
        )
    finally:
        stop(second)
    swept = recovery.sweep_recovery(recovery_time())
    assert (swept.inbound, swept.reclaimed, swept.requeued, swept.parked) == (0, 0, 0, 0)
    counts = provider_counts(fake)
    assert len(counts) == 3 and set(counts.values()) == {1}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis(port: int, folder: Path) -> subprocess.Popen[bytes]:
    """A private redis-server (never the shared one), without persistence, on `port`."""
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = Redis(port=port)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except RedisError:
            return False

    wait_for(answers, "the private Redis to start")
    return process


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A free port and folder for the test's own Redis; any server left on it is stopped."""
    port, folder = free_port(), tmp_path / "redis"
    folder.mkdir()
    yield port, folder
    with contextlib.suppress(RedisError):  # already stopped, or closing on us as it stops
        Redis(port=port, socket_connect_timeout=1).shutdown(nosave=True)


def sms(client, body: str, sid: str, sender: str):  # type: ignore[no-untyped-def]
    """POST one SMS as Twilio does, signed."""
    fields = {"AccountSid": SID, "MessageSid": sid, "From": sender, "To": "+8612345", "Body": body}
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/twilio/sms", fields)
    return client.post(
        "/twilio/sms",
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )


TEXTS = ["东门社区路灯坏了一个星期", "我想办低保需要什么材料", "你好", "西门村的路面塌了一个坑"]


def test_redis_down_while_messages_arrive_loses_nothing(
    pg_engine: Engine,
    postgres_url: str,
    fake: FakeTwilio,
    tmp_path: Path,
    private_redis: tuple[int, Path],
    installed: Callable[[Settings, Redis], Services],
) -> None:
    """Webhooks answer with Redis down; once it is back the sweep hands on all left behind."""
    port, folder = private_redis
    url = f"redis://127.0.0.1:{port}/0"
    server = start_redis(port, folder)
    settings = twilio_settings(tmp_path, fake, url, postgres_url)
    redis = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    services = installed(settings, redis)
    client = create_app(settings, services).test_client()
    sent = 0
    for n, body in enumerate(TEXTS[:2]):
        assert sms(client, body, f"SMup{n}", f"+86139002{n:05d}").status_code == 200
        sent += 1
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=WAIT_SECONDS)
    for n, body in enumerate(TEXTS):
        answer = sms(client, body, f"SMdown{n}", f"+86139003{n:05d}")
        assert answer.status_code == 200
        assert "<Response>" in answer.get_data(as_text=True)
        sent += 1
    # A retried webhook (same MessageSid) while Redis is down changes nothing.
    assert sms(client, TEXTS[0], "SMdown0", "+8613900300000").status_code == 200
    inbound = statuses(pg_engine, Direction.INBOUND)
    assert sum(inbound.values()) == sent
    server = start_redis(port, folder)  # empty: what was queued before the outage is gone too
    try:
        recovery.sweep_recovery(recovery_time())
        run_jobs(redis)
        assert recovery.sweep_recovery(recovery_time()).requeued == 0
    finally:
        server.terminate()
        server.wait(timeout=WAIT_SECONDS)
    assert statuses(pg_engine, Direction.INBOUND) == Counter({MessageStatus.PROCESSED: sent})
    outbound = statuses(pg_engine, Direction.OUTBOUND)
    assert set(outbound) <= {MessageStatus.SENT}, outbound
    with make_session_factory(pg_engine)() as session:
        delivered = session.scalars(
            select(Message.body).where(
                Message.direction == Direction.OUTBOUND, Message.provider_id.like("SM%")
            )
        ).all()
    counts = provider_counts(fake)
    assert set(counts.values()) <= {1}
    assert sorted(body for _, body in counts) == sorted(delivered)


def recovery_time() -> dt.datetime:
    """A moment past every grace period, as the sweep sees it a few minutes later."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)


@pytest.fixture
def immediate_retries(monkeypatch: pytest.MonkeyPatch) -> JobPolicy:
    """The delivery policy with its backoff cut to nothing, so a test need not wait."""
    declared = POLICIES[delivery.JOB]
    assert declared.retry is not None
    assert declared.retry.intervals == sorted(declared.retry.intervals)  # backoff grows
    quick = JobPolicy(declared.queue, declared.timeout, type(declared.retry)(declared.retry.max))
    monkeypatch.setitem(POLICIES, delivery.JOB, quick)
    return declared


def test_provider_errors_are_retried_then_parked(
    pg_engine: Engine,
    postgres_url: str,
    redis_url: str,
    fake: FakeTwilio,
    tmp_path: Path,
    installed: Callable[[Settings, Redis], Services],
    immediate_retries: JobPolicy,
) -> None:
    """500s are retried until the provider takes each message once; past the last try, parked."""
    settings = twilio_settings(tmp_path, fake, redis_url, postgres_url)
    redis = Redis.from_url(redis_url)
    installed(settings, redis)
    fake.fail_next(500, times=4)
    ids = queued_replies(pg_engine, 3)
    run_jobs(redis)
    assert statuses(pg_engine, Direction.OUTBOUND) == Counter({MessageStatus.SENT: 3})
    counts = provider_counts(fake)
    assert len(counts) == 3 and set(counts.values()) == {1}
    assert len(fake.requests) == 3 + 4
    with make_session_factory(pg_engine)() as session:
        assert sum(session.get(Message, i).attempts for i in ids) == 3 + 4  # type: ignore[union-attr]

    fake.fail_next(500, times=delivery.MAX_ATTEMPTS)
    (last,) = queued_replies(pg_engine, 1)
    run_jobs(redis)
    with make_session_factory(pg_engine)() as session:
        parked = session.get(Message, last)
        assert parked is not None
        assert parked.status is MessageStatus.FAILED
        assert parked.attempts == delivery.MAX_ATTEMPTS
        assert parked.error_code == "500"
    assert len(fake.requests) == 3 + 4 + delivery.MAX_ATTEMPTS
    assert len(fake.sent()) == 3
    assert recovery.sweep_recovery(recovery_time()).requeued == 0
