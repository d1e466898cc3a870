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
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from cases.db import session_scope
from cases.models import Contact, Message
from cases.models.messaging import Channel, Direction, MessageStatus
from worker import outbox, runtime
from worker.long_messages import split_long_message
from worker.queue import POLICIES, enqueue
from worker.senders import Outbound, Sender, SendError, make_sender

log = logging.getLogger(__name__)
assert outbox  # imported for its session hooks: committed queued messages get delivered

JOB = "worker.delivery.deliver"
_RETRY = POLICIES[JOB].retry
MAX_ATTEMPTS = (_RETRY.max if _RETRY is not None else 0) + 1

_sender: Sender | None = None
_wechat_sender: Sender | None = None


def sender(channel: Channel = Channel.SMS) -> Sender:
    """The process's sender for a channel, made once from the settings: WeChat's (or local)
    for WeChat, Twilio (or local) for the others."""
    global _sender, _wechat_sender
    if channel is Channel.WECHAT:
        if _wechat_sender is None:
            services = runtime.current()
            redis = services.redis if services.settings.uses_redis else None
            _wechat_sender = make_sender(services.settings, Channel.WECHAT, redis)
        return _wechat_sender
    if _sender is None:
        _sender = make_sender(runtime.current().settings)
    return _sender


def use_sender(replacement: Sender | None, channel: Channel = Channel.SMS) -> None:
    """Swap the process's sender for a channel (for tests and the embedded simulator)."""
    global _sender, _wechat_sender
    if channel is Channel.WECHAT:
        _wechat_sender = replacement
    else:
        _sender = replacement


def enqueue_delivery(connection: Redis, message_id: int) -> None:
    """Queue delivery of a committed outbound message (safe to call twice).

    The job id is the message's, and a job of that id still in Redis is not queued again (the
    outbox hook and the shell may both ask); the delivery claim guards the rest.
    """
    try:
        enqueue(connection, JOB, message_id, job_id=f"deliver-{message_id}", unique=True)
    except DuplicateJobError:
        pass


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
