"""Failed work for administrators: RQ's failed jobs and parked messages, with a retry button.

A job lands in a queue's failed registry after its last retry (or when its worker died with no
retry left); a message is parked `failed` when delivery gave up (the provider's code is on the
row) or when the bot failed on an inbound message `worker.shell.MAX_ATTEMPTS` times. "Retry"
requeues the job, or puts the message back to where its job takes it (`queued` / `received`)
with a fresh attempt count; the usual guards (the delivery claim, the shell's status check)
still make a double click harmless.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result
from sqlalchemy import select, update

from cases.models import Message
from cases.models.messaging import Direction, MessageStatus
from webhooks.auth import login_required
from webhooks.console.agents import require_admin
from webhooks.console.forms import CsrfForm
from webhooks.extensions import get_db, services
from worker.delivery import enqueue_delivery
from worker.queue import QUEUE_NAMES, enqueue
from worker.recovery import INBOUND_JOB

bp = Blueprint("jobs", __name__, url_prefix="/console/jobs")

# Rows shown per list: the page is for looking into failures, not for bulk work.
LIMIT = 200
ARGS_CHARS = 120


@dataclass(frozen=True)
class FailedJob:
    """One entry of a failed-job registry, as the page shows it."""

    queue: str
    id: str
    function: str
    args: str
    error: str  # the exception's last line
    failed_at: dt.datetime | None


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    """Failed jobs per queue and parked messages."""
    require_admin()
    redis = services().redis
    try:
        jobs, queue_error = failed_jobs(redis), ""
    except RedisError as exc:
        jobs, queue_error = [], type(exc).__name__
    parked = get_db().scalars(
        select(Message)
        .where(Message.status == MessageStatus.FAILED)
        .order_by(Message.id.desc())
        .limit(LIMIT)
    )
    return render_template(
        "console/jobs.html",
        jobs=jobs,
        queue_error=queue_error,
        parked=list(parked),
        form=CsrfForm(),
    )


@bp.post("/<queue>/<job_id>/retry")
@login_required
def retry_job(queue: str, job_id: str) -> ResponseReturnValue:
    """Put a failed job back on its queue."""
    require_admin()
    if not CsrfForm().validate_on_submit():
        abort(400)
    if queue not in QUEUE_NAMES:
        abort(404)
    registry = FailedJobRegistry(queue, connection=services().redis)
    try:
        registry.requeue(job_id)
    except (NoSuchJobError, InvalidJobOperation):
        flash(_("That job is no longer in the failed list."), "error")
    else:
        flash(_("Job %(id)s queued again.", id=job_id), "ok")
    return redirect(url_for("jobs.index"))


@bp.post("/messages/<int:message_id>/retry")
@login_required
def retry_message(message_id: int) -> ResponseReturnValue:
    """Give a parked message a fresh set of attempts."""
    require_admin()
    if not CsrfForm().validate_on_submit():
        abort(400)
    session = get_db()
    message = session.get(Message, message_id)
    if message is None:
        abort(404)
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
        flash(_("That message is no longer parked."), "error")
        return redirect(url_for("jobs.index"))
    # If Redis is down the row waits all the same, and the recovery sweep hands it on.
    with contextlib.suppress(RedisError):
        if inbound:
            enqueue(services().redis, INBOUND_JOB, message_id, job_id=f"inbound-{message_id}")
        else:
            enqueue_delivery(services().redis, message_id)
    flash(_("Message %(id)s will be tried again.", id=message_id), "ok")
    return redirect(url_for("jobs.index"))


def failed_jobs(redis: Redis) -> list[FailedJob]:
    """The newest failed jobs of every queue."""
    found: list[FailedJob] = []
    for name in QUEUE_NAMES:
        registry = FailedJobRegistry(name, connection=redis)
        ids = registry.get_job_ids(0, LIMIT - 1, desc=True)
        for job in Job.fetch_many(ids, connection=redis):
            if job is not None:
                found.append(_describe(name, job))
    return found


def _describe(queue: str, job: Job) -> FailedJob:
    try:
        function = job.func_name or "?"
        args = ", ".join(repr(arg) for arg in job.args)
    except Exception:  # an unreadable payload (an old or foreign job) is still listed
        function, args = "?", "?"
    result = job.latest_result()
    failed = result is not None and result.type == Result.Type.FAILED
    trace = (result.exc_string or "").strip().splitlines() if failed and result else []
    return FailedJob(
        queue=queue,
        id=job.id,
        function=function,
        args=args[:ARGS_CHARS],
        error=trace[-1] if trace else "",
        failed_at=_aware(job.ended_at),
    )


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """RQ keeps naive UTC times; the console shows aware ones in local time."""
    return moment.replace(tzinfo=dt.UTC) if moment and moment.tzinfo is None else moment
