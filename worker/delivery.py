"""Delivering outbound messages: claim the row, send, record what the provider said.

`deliver(message_id)` is the job. It claims the message with one conditional UPDATE (queued →
sending), so two workers running the same job send it once; it never messages an address that
opted out; transient failures go back to `queued` and are retried by RQ with backoff, and after
the last attempt the message is parked as failed with the reason visible to admins.
"""

from __future__ import annotations

import datetime as dt
import logging

from redis import Redis
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from cases.db import session_scope
from cases.models import Contact, Message
from cases.models.messaging import Channel, Direction, MessageStatus
from cases.settings import Settings
from worker import outbox, runtime
from worker.long_messages import split_long_message
from worker.queue import POLICIES, enqueue
from worker.senders import Outbound, Sender, SendError, make_sender

log = logging.getLogger(__name__)
assert outbox  # imported for its session hooks: committed queued messages get delivered

JOB = "worker.delivery.deliver"
_RETRY = POLICIES[JOB].retry
MAX_ATTEMPTS = (_RETRY.max if _RETRY is not None else 0) + 1

# The process's senders, by kind ("wechat", "default"), with the settings they were made from:
# installing other services (another test, a reconfigured process) makes fresh ones. A sender
# set by `use_sender` is kept whatever the settings (None in place of the settings).
_senders: dict[str, tuple[Settings | None, Sender]] = {}


def _kind(channel: Channel) -> str:
    return "wechat" if channel is Channel.WECHAT else "default"


def sender(channel: Channel = Channel.SMS) -> Sender:
    """The process's sender for a channel, made from the installed settings: WeChat's (or
    local) for WeChat, Twilio (or local) for the others."""
    services = runtime.current()
    kind = _kind(channel)
    cached = _senders.get(kind)
    if cached is not None and (cached[0] is None or cached[0] is services.settings):
        return cached[1]
    if kind == "wechat":
        redis = services.redis if services.settings.uses_redis else None
        made = make_sender(services.settings, Channel.WECHAT, redis)
    else:
        made = make_sender(services.settings)
    _senders[kind] = (services.settings, made)
    return made


def use_sender(replacement: Sender | None, channel: Channel = Channel.SMS) -> None:
    """Pin the process's sender for a channel (tests, the embedded simulator); None unpins."""
    if replacement is None:
        _senders.pop(_kind(channel), None)
    else:
        _senders[_kind(channel)] = (None, replacement)


def enqueue_delivery(connection: Redis, message_id: int) -> None:
    """Queue delivery of a committed outbound message (safe to call twice).

    The job id is the message's. While a job of that id will still run (queued, scheduled,
    running) it is not queued again — the outbox hook and the shell may both ask; a finished or
    failed job's record is replaced, so a message queued again (an admin's retry) goes out. The
    delivery claim guards whatever slips between the look and the enqueue.
    """
    job_id = f"deliver-{message_id}"
    for _ in range(2):
        try:
            enqueue(connection, JOB, message_id, job_id=job_id, unique=True)
            return
        except DuplicateJobError:
            existing = Job.fetch_many([job_id], connection=connection)[0]
            if existing is None:
                continue  # gone since: try again
            if existing.get_status(refresh=False) in _WILL_RUN:
                return
            existing.delete()


# States in which a job will still run: queueing it again would only run it twice.
_WILL_RUN = frozenset(
    {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED}
)


def deliver(message_id: int) -> str:
    """Send one outbound message; returns its status afterwards.

    Raises:
        SendError: a transient failure with attempts left (RQ retries the job).
    """
    services = runtime.current()
    now = dt.datetime.now(dt.UTC)
    with session_scope(services.sessions) as session:
        if not _claim(session, message_id):
            current = session.get(Message, message_id)
            return current.status.value if current else "missing"
        message = session.get(Message, message_id)
        assert message is not None
        contact = session.get(Contact, message.contact_id)
        if contact is None or contact.opted_out:
            message.status = MessageStatus.SUPPRESSED
            return message.status.value
        split_long_message(session, message)
        outbound = Outbound(
            # a WeChat follower is reached by openid, whatever phone number they gave
            to=contact.address
            if message.channel is Channel.WECHAT
            else (contact.phone or contact.address),
            body=message.body,
            channel=message.channel,
            status_callback=_status_callback(services.settings.public_url),
        )
    try:
        result = sender(outbound.channel).send(outbound)
    except SendError as exc:
        return _record_failure(services.sessions, message_id, exc)
    with session_scope(services.sessions) as session:
        message = session.get(Message, message_id)
        assert message is not None
        message.status = MessageStatus.SENT
        message.provider_id = result.provider_id
        message.sent_at = now
        message.error_code = message.error_message = ""
    log.info(
        "message sent",
        extra={"message_id": message_id, "sender": sender(outbound.channel).name},
    )
    return MessageStatus.SENT.value


def _claim(session: Session, message_id: int) -> bool:
    claimed = session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.direction == Direction.OUTBOUND,
            Message.status == MessageStatus.QUEUED,
            # Web chat has no push: the chat page fetches its queued messages itself.
            Message.channel != Channel.WEB,
        )
        .values(
            status=MessageStatus.SENDING,
            attempts=Message.attempts + 1,
            claimed_at=dt.datetime.now(dt.UTC),
        )
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def _record_failure(sessions: sessionmaker[Session], message_id: int, error: SendError) -> str:
    with session_scope(sessions) as session:
        message = session.get(Message, message_id)
        assert message is not None
        message.error_code = error.code[:32]
        message.error_message = str(error)[:255]
        retry = error.transient and message.attempts < MAX_ATTEMPTS
        message.status = MessageStatus.QUEUED if retry else MessageStatus.FAILED
        status = message.status.value
    log.warning(
        "message not sent",
        extra={"message_id": message_id, "code": error.code, "will_retry": retry},
    )
    if retry:
        raise error
    return status


def _status_callback(public_url: str) -> str | None:
    return f"{public_url}/twilio/sms/status" if public_url else None


# Imported last, for its session hooks: every process that can deliver also notifies residents
# of committed case events (`worker.notify` itself imports this module).
from worker import notify  # noqa: E402

assert notify
