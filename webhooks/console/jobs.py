"""Failed work for administrators: RQ's failed jobs and parked messages, with a retry button.

The listing and the retries are `worker.failures` (also behind `zhitong jobs`); this page shows
them to admins and asks for a CSRF-protected click.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from redis.exceptions import RedisError

from cases.models import Message
from webhooks.auth import login_required
from webhooks.console.agents import require_admin
from webhooks.console.forms import CsrfForm
from webhooks.extensions import get_db, services
from worker.failures import failed_jobs, parked_messages, requeue_job
from worker.failures import retry_message as retry
from worker.queue import QUEUE_NAMES

bp = Blueprint("jobs", __name__, url_prefix="/console/jobs")


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
    parked = parked_messages(get_db())
    return render_template(
        "console/jobs.html",
        jobs=jobs,
        queue_error=queue_error,
        parked=parked,
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
    if requeue_job(services().redis, queue, job_id):
        flash(_("Job %(id)s queued again.", id=job_id), "ok")
    else:
        flash(_("That job is no longer in the failed list."), "error")
    return redirect(url_for("jobs.index"))


@bp.post("/messages/<int:message_id>/retry")
@login_required
def retry_message(message_id: int) -> ResponseReturnValue:
    """Give a parked message a fresh set of attempts."""
    require_admin()
    if not CsrfForm().validate_on_submit():
        abort(400)
    if get_db().get(Message, message_id) is None:
        abort(404)
    if retry(get_db(), services().redis, message_id):
        flash(_("Message %(id)s will be tried again.", id=message_id), "ok")
    else:
        flash(_("That message is no longer parked."), "error")
    return redirect(url_for("jobs.index"))
