"""Failed work, for administrators: RQ's failed jobs and parked messages, and retrying them.

A job lands in a queue's failed registry after its last retry (or when its worker died with no
retry left); a message is parked `failed` when delivery gave up (the provider's code is on the
row) or when the bot failed on an inbound message `worker.shell.MAX_ATTEMPTS` times. Retrying
requeues the job, or puts the message back where its job takes it (`queued` / `received`) with
a fresh attempt count; the usual guards (the delivery claim, the shell's status check) make a
second retry harmless. The console's failed-jobs page and `zhitong jobs` both use this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cases.models import Message
from cases.models.messaging import Direction, MessageStatus
from worker.delivery import enqueue_delivery
from worker.queue import QUEUE_NAMES, enqueue
from worker.recovery import INBOUND_JOB

# Rows listed at most per list: for looking into failures, not for bulk work.
LIMIT = 200
ARGS_CHARS = 120


@dataclass(frozen=True)
class FailedJob:
    """One entry of a failed-job registry."""

    queue: str
    id: str
    function: str
    args: str
    error: str  # the exception's last line
    failed_at: dt.datetime | None


def failed_jobs(redis: Redis, limit: int = LIMIT) -> list[FailedJob]:
    """The newest failed jobs of every queue.

    Raises:
        RedisError: the queue cannot be reached.
    """
    found: list[FailedJob] = []
    for name in QUEUE_NAMES:
        registry = FailedJobRegistry(name, connection=redis)
        ids = registry.get_job_ids(0, limit - 1, desc=True)
        for job in Job.fetch_many(ids, connection=redis):
            if job is not None:
                found.append(_describe(name, job))
    return found


def parked_messages(session: Session, limit: int = LIMIT) -> list[Message]:
    """Messages parked `failed`, newest first."""
    return list(
        session.scalars(
            select(Message)
            .where(Message.status == MessageStatus.FAILED)
            .order_by(Message.id.desc())
            .limit(limit)
        )
    )


def requeue_job(redis: Redis, queue: str, job_id: str) -> bool:
    """Put a failed job back on its queue; False when it is not in the failed list (any more).

    Raises:
        ValueError: not one of the queues.
    """
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}; queues are {', '.join(QUEUE_NAMES)}")
    try:
        FailedJobRegistry(queue, connection=redis).requeue(job_id)
    except (NoSuchJobError, InvalidJobOperation):
        return False
    return True


def retry_message(session: Session, redis: Redis, message_id: int) -> bool:
    """Give a parked message a fresh set of attempts and hand it to its job (commits).

    Returns False when the message is not parked (any more). If Redis is down the row waits all
    the same, and the recovery sweep hands it on.
    """
    message = session.get(Message, message_id)
    if message is None:
        return False
    inbound = message.direction is Direction.INBOUND
    target = MessageStatus.RECEIVED if inbound else MessageStatus.QUEUED
    changed = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == MessageStatus.FAILED)
        .values(status=target, attempts=0, error_code="", error_message="")
        .execution_options(synchronize_session="fetch")
    )
    session.commit()
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    with contextlib.suppress(RedisError):
        if inbound:
            enqueue(redis, INBOUND_JOB, message_id, job_id=f"inbound-{message_id}")
        else:
            enqueue_delivery(redis, message_id)
    return True


def _describe(queue: str, job: Job) -> FailedJob:
    try:
        function = job.func_name or "?"
        args = ", ".join(repr(arg) for arg in job.args)
    except Exception:  # an unreadable payload (an old or foreign job) is still listed
        function, args = "?", "?"
    result = job.latest_result()
    failed = result is not None and result.type == Result.Type.FAILED
    trace = (result.exc_string or "").strip().splitlines() if failed and result else []
    ended = job.ended_at
    return FailedJob(
        queue=queue,
        id=job.id,
        function=function,
        args=args[:ARGS_CHARS],
        error=trace[-1] if trace else "",
        # RQ keeps naive UTC times
        failed_at=ended.replace(tzinfo=dt.UTC) if ended and ended.tzinfo is None else ended,
    )
