"""`GET /metrics`: Prometheus text read at scrape time from the real Redis and both databases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cases.clock import Clock
from cases.models import Contact, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.settings import load_settings
from tests.fixtures.console import bot_case
from tests.fixtures.services import services_for
from webhooks.app import create_app
from worker import recovery
from worker.queue import enqueue

TOKEN = "scrape-token-0123456789"
OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}

pytestmark = pytest.mark.redis


def make_client(engine: Engine, tmp_path: Path, redis: Redis, **overrides: str) -> FlaskClient:
    """The app on the test database and `redis`, with metrics settings overridden."""
    settings = load_settings(instance_path=tmp_path, secret_key="s", **overrides)  # type: ignore[arg-type]
    services = services_for(engine, settings)
    services.redis = redis
    return create_app(settings, services).test_client()


@pytest.fixture
def redis(redis_url: str) -> Redis:
    """The real Redis (a private database, emptied around the test)."""
    return Redis.from_url(redis_url)


@pytest.fixture
def client(demo_session: Session, engine: Engine, tmp_path: Path, redis: Redis) -> FlaskClient:
    """The app with loopback access and a token for everyone else."""
    return make_client(engine, tmp_path, redis, metrics_token=TOKEN)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, keyed by name and sorted labels (the official parser must accept it)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_figures_read_at_scrape_time(
    client: FlaskClient, demo_session: Session, redis: Redis
) -> None:
    """Queue depths, message backlog, the oldest inbound's age and sweep times are exposed."""
    contact = Contact(kind=AddressKind.PHONE, address="+8613900123456", phone="+8613900123456")
    demo_session.add(contact)
    demo_session.flush()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    for status, direction in [
        (MessageStatus.RECEIVED, Direction.INBOUND),
        (MessageStatus.FAILED, Direction.OUTBOUND),
        (MessageStatus.SENT, Direction.OUTBOUND),
    ]:
        demo_session.add(
            Message(
                contact_id=contact.id,
                direction=direction,
                channel=Channel.SMS,
                status=status,
                media=[],
                created_at=old,
            )
        )
    demo_session.commit()
    enqueue(redis, "worker.recovery.sweep_recovery")
    redis.set(recovery.LAST_RUN_KEY, "2026-11-23T02:00:00+00:00")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    found = samples(response.get_data(as_text=True))
    assert found[("zhitong_queue_jobs", (("queue", "low"),))] == 1
    assert found[("zhitong_queue_jobs", (("queue", "high"),))] == 0
    assert ("zhitong_queue_registry_jobs", (("queue", "default"), ("registry", "failed"))) in found
    assert found[("zhitong_workers", ())] == 0
    assert found[("zhitong_messages", (("direction", "inbound"), ("status", "received")))] == 1
    assert found[("zhitong_messages", (("direction", "outbound"), ("status", "failed")))] == 1
    assert not any(key[0] == "zhitong_messages" and ("status", "sent") in key[1] for key in found)
    assert found[("zhitong_inbound_oldest_unprocessed_age_seconds", ())] >= 290
    assert found[("zhitong_sweep_last_run_timestamp_seconds", (("sweep", "recovery"),))] == (
        dt.datetime(2026, 11, 23, 2, tzinfo=dt.UTC).timestamp()
    )
    assert found[("zhitong_up", (("source", "database"),))] == 1
    assert found[("zhitong_up", (("source", "redis"),))] == 1


def test_open_cases_by_status_and_level(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Open cases are counted by status and warning level."""
    case = bot_case(demo_session, clock)
    found = samples(client.get("/metrics").get_data(as_text=True))
    opened = {key: value for key, value in found.items() if key[0] == "zhitong_cases_open"}
    labels = (("status", case.status.value), ("warning_level", "none"))
    assert opened == {("zhitong_cases_open", labels): 1}


def test_outside_callers_need_the_token(client: FlaskClient) -> None:
    """Off the allowed networks only the bearer token opens /metrics."""
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 403
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/metrics", environ_base=OUTSIDE, headers=wrong).status_code == 403
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/metrics", environ_base=OUTSIDE, headers=right).status_code == 200


def test_configured_networks_replace_loopback(
    demo_session: Session, engine: Engine, tmp_path: Path, redis: Redis
) -> None:
    """A configured network is allowed; loopback then is not, and no token means no way in."""
    client = make_client(engine, tmp_path, redis, metrics_networks="203.0.113.0/24")
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 200
    assert client.get("/metrics").status_code == 403
    token = {"Authorization": "Bearer "}
    assert client.get("/metrics", headers=token).status_code == 403


def test_redis_down_is_reported_not_fatal(
    demo_session: Session, engine: Engine, tmp_path: Path
) -> None:
    """With Redis unreachable the scrape still answers, saying which source is down."""
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    client = make_client(engine, tmp_path, down)
    response = client.get("/metrics")
    assert response.status_code == 200
    found = samples(response.get_data(as_text=True))
    assert found[("zhitong_up", (("source", "redis"),))] == 0
    assert found[("zhitong_up", (("source", "database"),))] == 1
