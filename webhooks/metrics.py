"""`GET /metrics`: job, queue, message and case figures for Prometheus, read at scrape time.

A custom collector asks Redis and the database on every scrape, so any web process answers
for the whole deployment and no process keeps counters that would disagree with another's.
The figures are gauges of what is stored now (queue depths, RQ registries, live workers,
messages waiting by direction and status, the age of the oldest unprocessed inbound message,
open cases by status and warning level, when each sweep last ran); rates come from
Prometheus's own `rate()`/`deriv()` over them. A source that cannot be reached is reported as
`zhitong_up{source=…} 0` rather than failing the scrape.

Access: from the networks in `ZHITONG_METRICS_NETWORKS` (loopback by default), or from
anywhere with `Authorization: Bearer $ZHITONG_METRICS_TOKEN`.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
from collections.abc import Iterator

from flask import Blueprint, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from cases.lifecycle import OPEN_STATUSES
from cases.models import Case, Message
from cases.models.messaging import Direction, MessageStatus
from cases.settings import Settings
from webhooks.extensions import services
from worker.queue import QUEUE_NAMES, get_queue
from worker.recovery import LAST_RUN_KEY
from worker.runtime import Services
from worker.sweeps import WATERMARK_KEY

bp = Blueprint("metrics", __name__)

# Message states that mean work left or a person needed; settled ones are not counted (their
# tables grow without bound, and a scrape must stay an index-only count).
WATCHED_STATUSES = (
    MessageStatus.RECEIVED,
    MessageStatus.QUEUED,
    MessageStatus.HELD,
    MessageStatus.SENDING,
    MessageStatus.FAILED,
    MessageStatus.UNDELIVERED,
)
REGISTRIES = {
    "started": StartedJobRegistry,
    "failed": FailedJobRegistry,
    "scheduled": ScheduledJobRegistry,
    "deferred": DeferredJobRegistry,
}
SWEEP_KEYS = {"deadlines": WATERMARK_KEY, "recovery": LAST_RUN_KEY}


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus text exposition of the current figures (403 unless allowed)."""
    if not allowed(services().settings):
        abort(403)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ZhitongCollector(services()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def allowed(settings: Settings) -> bool:
    """True for a caller on a configured network or bearing the configured token."""
    header = request.headers.get("Authorization", "")
    if settings.metrics_token and header.startswith("Bearer "):
        given = header.removeprefix("Bearer ").strip().encode()
        if hmac.compare_digest(given, settings.metrics_token.encode()):
            return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    networks = (part.strip() for part in settings.metrics_networks.split(","))
    return any(address in ipaddress.ip_network(net, strict=False) for net in networks if net)


class ZhitongCollector(Collector):
    """Reads queue, message and case figures when Prometheus scrapes."""

    def __init__(self, services: Services, now: dt.datetime | None = None) -> None:
        self.services = services
        self.now = now

    def collect(self) -> Iterator[Metric]:
        """Every figure; a source that is down yields `zhitong_up{source} 0` instead."""
        up = GaugeMetricFamily("zhitong_up", "1 when the source could be read", labels=["source"])
        try:
            yield from self._queue_metrics()
            up.add_metric(["redis"], 1)
        except RedisError:
            up.add_metric(["redis"], 0)
        try:
            yield from self._database_metrics()
            up.add_metric(["database"], 1)
        except SQLAlchemyError:
            up.add_metric(["database"], 0)
        yield up

    def _queue_metrics(self) -> Iterator[Metric]:
        redis = self.services.redis
        depth = GaugeMetricFamily("zhitong_queue_jobs", "Jobs waiting in a queue", labels=["queue"])
        registries = GaugeMetricFamily(
            "zhitong_queue_registry_jobs",
            "Jobs in a queue's RQ registry (started, failed, scheduled, deferred)",
            labels=["queue", "registry"],
        )
        queues: list[Queue] = [get_queue(name, redis) for name in QUEUE_NAMES]
        for queue in queues:
            depth.add_metric([queue.name], queue.count)
            for name, registry_class in REGISTRIES.items():
                registry = registry_class(queue.name, connection=redis)
                # The sorted set's size, without the cleanup a count() would run on each scrape.
                registries.add_metric([queue.name, name], int(redis.zcard(registry.key)))  # type: ignore[arg-type]
        workers = GaugeMetricFamily("zhitong_workers", "Live RQ workers")
        workers.add_metric([], Worker.count(connection=redis))
        last_run = GaugeMetricFamily(
            "zhitong_sweep_last_run_timestamp_seconds",
            "When a periodic sweep last completed (Unix time)",
            labels=["sweep"],
        )
        for sweep, key in SWEEP_KEYS.items():
            raw = redis.get(key)
            if isinstance(raw, bytes):
                last_run.add_metric([sweep], dt.datetime.fromisoformat(raw.decode()).timestamp())
        yield from (depth, registries, workers, last_run)

    def _database_metrics(self) -> Iterator[Metric]:
        now = self.now or dt.datetime.now(dt.UTC)
        messages = GaugeMetricFamily(
            "zhitong_messages",
            "Messages waiting or needing a person, by direction and status",
            labels=["direction", "status"],
        )
        cases = GaugeMetricFamily(
            "zhitong_cases_open",
            "Open cases by status and warning level",
            labels=["status", "warning_level"],
        )
        oldest = GaugeMetricFamily(
            "zhitong_inbound_oldest_unprocessed_age_seconds",
            "Age of the oldest inbound message not yet handled by the bot (0 when none)",
        )
        with self.services.sessions() as session:
            counted = session.execute(
                select(Message.direction, Message.status, func.count())
                .where(Message.status.in_(WATCHED_STATUSES))
                .group_by(Message.direction, Message.status)
            ).all()
            found = {(row[0], row[1]): int(row[2]) for row in counted}
            for direction in Direction:
                for status in WATCHED_STATUSES:
                    messages.add_metric(
                        [direction.value, status.value], found.get((direction, status), 0)
                    )
            open_cases = session.execute(
                select(Case.status, Case.warning_level, func.count())
                .where(Case.status.in_(sorted(OPEN_STATUSES)))
                .group_by(Case.status, Case.warning_level)
            ).all()
            for case_status, level, count in open_cases:
                cases.add_metric([case_status.value, level.value], int(count))
            first = session.scalar(
                select(func.min(Message.created_at)).where(
                    Message.status == MessageStatus.RECEIVED,
                    Message.direction == Direction.INBOUND,
                )
            )
        oldest.add_metric([], max(0.0, (now - first).total_seconds()) if first else 0.0)
        yield from (messages, cases, oldest)
