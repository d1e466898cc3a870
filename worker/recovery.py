"""The recovery sweep: work committed to the database but lost on the way to a worker.

The database is the record; Redis only carries work. Whatever a queue outage or a killed worker
dropped is still a row in a state that says what is left to do, and `sweep_recovery(now)` (run
every minute by the scheduler) hands it on again:

1. **Inbound messages still `received`** after `INBOUND_GRACE` (the webhook's bot failed, or the
   process died between commit and answer): a `handle_inbound` job on "high", its id keyed by the
   message (`inbound-{id}`), so it is queued once however often the sweep sees the row. The job
   runs the shell asynchronously (replies are queued for delivery); a failure counts an attempt
   on the message, and after `worker.shell.MAX_ATTEMPTS` the message is parked `failed` and the
   conversation flagged for a person.
2. **Outbound messages stuck in `sending`** for longer than the delivery job may run
   (`STALE_SENDING`): the worker died mid-send. They go back to `queued` (one conditional
   UPDATE) and are delivered again; after the last delivery attempt they are parked `failed`
   (code `interrupted`). This is the one place delivery is at-least-once: if the worker died
   after the provider accepted the message but before the row said so, the resident gets it
   twice. Twilio's Messages API takes no idempotency key, so the window is kept small instead:
   the claim and the provider call are one HTTP request apart, and the send times out after
   `worker.senders.SEND_TIMEOUT_SECONDS`.
3. **Outbound messages `queued`** for over `QUEUED_GRACE` with no live `deliver-{id}` job and
   in no live `deliver_batch` job (Redis was unreachable when their transaction committed, or
   lost its data; a notify job died before delivering its rows): queued again, one
   `deliver-{id}` job each. A batch's transient failures wait in a scheduled batch job for
   their backoff, so the sweep leaves them alone.

Every select is set-based, in id order, `BATCH` rows at a time (keyset pagination). A job that
still lives in Redis (queued, scheduled for a retry, running) is left alone; a finished or failed
one of the same id is replaced. The delivery job's claim (queued → sending) stays the real guard
against a double send, so two sweeps, or a sweep racing RQ's own retry, cost nothing but a no-op
job. A Redis lock keeps two sweeps from overlapping.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from cases.db import session_scope
from cases.models import Message
from cases.models.messaging import Direction, MessageStatus
from worker import runtime
from worker.delivery import JOB as DELIVERY_JOB
from worker.delivery import MAX_ATTEMPTS as DELIVERY_ATTEMPTS
from worker.delivery import batched_message_ids
from worker.queue import POLICIES, enqueue, enqueue_once
from worker.runtime import Services
from worker.shell import count_attempt, handle_message

log = logging.getLogger(__name__)

JOB = "worker.recovery.sweep_recovery"
INBOUND_JOB = "worker.recovery.handle_inbound"
# How long an inbound message may wait for the webhook (or its retry) before the sweep takes it.
INBOUND_GRACE = dt.timedelta(minutes=2)
# A queued message younger than this is probably being handed to the queue right now.
QUEUED_GRACE = dt.timedelta(minutes=1)
# A claim older than the delivery job's timeout (plus a margin) belongs to a dead worker.
STALE_SENDING = dt.timedelta(seconds=POLICIES[DELIVERY_JOB].timeout + 60)
BATCH = 500
LOCK_KEY = "zhitong:recovery:lock"
LAST_RUN_KEY = "zhitong:recovery:last-run"
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class RecoveryResult:
    """What one recovery sweep handed on."""

    inbound: int = 0  # inbound messages given a handle_inbound job
    reclaimed: int = 0  # stale `sending` messages put back to `queued` and queued
    parked: int = 0  # stale `sending` messages past their last attempt, now `failed`
    requeued: int = 0  # `queued` messages whose delivery job was missing
    seconds: float = 0.0
    skipped: bool = False  # another sweep was running


def sweep_recovery(now: dt.datetime | None = None) -> RecoveryResult:
    """Hand on every message the queue lost (the periodic job).

    Args:
        now: the moment to judge ages by; the current time when None (as the scheduler runs it).
    """
    started = time.perf_counter()
    services = runtime.current()
    moment = now or dt.datetime.now(dt.UTC)
    lock = services.redis.lock(LOCK_KEY, timeout=POLICIES[JOB].timeout, blocking=False)
    if not lock.acquire():
        log.info("recovery sweep skipped: another one is running")
        return RecoveryResult(skipped=True)
    try:
        result = recover(services, moment)
        services.redis.set(LAST_RUN_KEY, moment.astimezone(dt.UTC).isoformat())
    finally:
        lock.release()
    result = replace(result, seconds=round(time.perf_counter() - started, 3))
    log.info(
        "recovery sweep",
        extra={
            "inbound": result.inbound,
            "reclaimed": result.reclaimed,
            "parked": result.parked,
            "requeued": result.requeued,
            "seconds": result.seconds,
        },
    )
    return result


def recover(services: Services, now: dt.datetime) -> RecoveryResult:
    """The sweep's three steps, without the lock (the caller holds it)."""
    inbound = 0
    for batch in _batches(services, _unhandled_inbound(now - INBOUND_GRACE)):
        inbound += len(_hand_on(services.redis, INBOUND_JOB, "inbound", batch))
    reclaimed = parked = 0
    for batch in _batches(services, _stale(now - STALE_SENDING)):
        with session_scope(services.sessions) as session:
            parked += len(park_interrupted(session, batch, now - STALE_SENDING))
            back = reclaim(session, batch, now - STALE_SENDING)
        # The dead worker's job may still be listed as started: replace it.
        reclaimed += len(
            _hand_on(services.redis, DELIVERY_JOB, "deliver", back, replace_started=True)
        )
    requeued = 0
    # Rows a live batch job will deliver (waiting, or scheduled for its backoff) are its own.
    batched = batched_message_ids(services.redis)
    for batch in _batches(services, _queued_before(now - QUEUED_GRACE)):
        orphans = [message_id for message_id in batch if message_id not in batched]
        requeued += len(_hand_on(services.redis, DELIVERY_JOB, "deliver", orphans))
    return RecoveryResult(inbound=inbound, reclaimed=reclaimed, parked=parked, requeued=requeued)


def enqueue_inbound(redis: Redis, message_id: int) -> bool:
    """Hand a just-committed inbound message to a worker; False when Redis is unreachable.

    The message is safe either way: one still `received` after the grace period is handed on
    by this module's sweep.
    """
    try:
        enqueue(redis, INBOUND_JOB, message_id, job_id=f"inbound-{message_id}")
    except RedisError:
        log.warning(
            "queue unreachable: the recovery sweep will hand the message on",
            extra={"message_id": message_id},
        )
        return False
    return True


def handle_inbound(message_id: int) -> str:
    """Run the bot on an inbound message the webhook did not finish (the job).

    Replies are queued for delivery. A failure counts an attempt on the message (parked after
    `worker.shell.MAX_ATTEMPTS`) and is raised again, so RQ retries the job and records it.
    """
    services = runtime.current()
    try:
        handled = handle_message(services, message_id, synchronous=False)
    except RedisError:
        # Committed already: the replies wait as `queued`, and this sweep hands them on.
        log.warning("replies left queued for the recovery sweep", extra={"message_id": message_id})
        return "processed"
    except Exception as exc:  # the job boundary: note the attempt, let RQ record and retry it
        count_attempt(services, message_id, exc)
        raise
    return "skipped" if handled.skipped else "processed"


def park_interrupted(
    session: Session, message_ids: Sequence[int], cutoff: dt.datetime
) -> list[int]:
    """Mark `failed` those still stale in `sending` that used their last delivery attempt."""
    statement = (
        update(Message)
        .where(*_stale(cutoff), Message.id.in_(message_ids), Message.attempts >= DELIVERY_ATTEMPTS)
        .values(
            status=MessageStatus.FAILED,
            error_code=INTERRUPTED,
            error_message="the worker stopped while sending, on every attempt",
        )
        .returning(Message.id)
    )
    return list(session.execute(statement).scalars())


def reclaim(session: Session, message_ids: Sequence[int], cutoff: dt.datetime) -> list[int]:
    """Put back to `queued` those of `message_ids` still stale in `sending`; the ids changed."""
    statement = (
        update(Message)
        .where(*_stale(cutoff), Message.id.in_(message_ids))
        .values(status=MessageStatus.QUEUED, error_code=INTERRUPTED)
        .returning(Message.id)
    )
    return sorted(session.execute(statement).scalars())


def _unhandled_inbound(cutoff: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        Message.status == MessageStatus.RECEIVED,
        Message.direction == Direction.INBOUND,
        Message.conversation_id.is_not(None),  # the shell needs one; none means nothing to do
        Message.created_at < cutoff,
    ]


def _stale(cutoff: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        Message.status == MessageStatus.SENDING,
        Message.direction == Direction.OUTBOUND,
        # Rows claimed before claims were timed count from their creation.
        func.coalesce(Message.claimed_at, Message.created_at) < cutoff,
    ]


def _queued_before(cutoff: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        Message.status == MessageStatus.QUEUED,
        Message.direction == Direction.OUTBOUND,
        Message.created_at < cutoff,
    ]


def _batches(services: Services, conditions: list[ColumnElement[bool]]) -> Iterator[list[int]]:
    """Ids of the messages matching `conditions`, `BATCH` at a time, in id order."""
    after = 0
    while True:
        with session_scope(services.sessions) as session:
            batch = list(
                session.scalars(
                    select(Message.id)
                    .where(*conditions, Message.id > after)
                    .order_by(Message.id)
                    .limit(BATCH)
                )
            )
        if not batch:
            return
        yield batch
        if len(batch) < BATCH:
            return
        after = batch[-1]


def _hand_on(
    redis: Redis,
    job: str,
    prefix: str,
    message_ids: Sequence[int],
    *,
    replace_started: bool = False,
) -> list[int]:
    """Queue `job` for each message without a live job of its id; the ids queued."""
    return [
        message_id
        for message_id in message_ids
        if enqueue_once(
            redis, job, message_id, job_id=f"{prefix}-{message_id}", replace_started=replace_started
        )
    ]
