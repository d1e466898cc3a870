"""The outbox: every outbound message committed as `queued` is handed to the delivery jobs.

Whoever creates a message — the console resolving a case, a breach alert, a bot reply on an
asynchronous channel — only stores it; once the transaction commits, these session hooks queue
its delivery: one `deliver` job (id ``deliver-{message id}``, the id its creator may also queue
it under, so the two share one job) when the transaction committed one message, one
`deliver_batch` job per `worker.delivery.BATCH_SIZE` messages when it committed several. A
rollback queues nothing, so a message is never sent for work that did not happen. Enqueuing
twice is harmless (the delivery claims the rows), and a queue that cannot be reached loses
nothing: the messages stay `queued` in the database for the recovery sweep.

Rows written with plain SQL statements (the notifications' ``INSERT … ON CONFLICT``, a release
of held messages, a delivery recording its outcome) are not seen here: their writers hand them
on themselves.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from cases.db import insert_for
from cases.models import Message
from cases.models.messaging import Channel, Direction, MessageStatus
from worker import runtime

log = logging.getLogger(__name__)
_KEY = "zhitong_outbox"


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context: Any) -> None:
    for obj in list(session.new) + list(session.dirty):
        if (
            isinstance(obj, Message)
            and obj.direction is Direction.OUTBOUND
            and obj.status is MessageStatus.QUEUED
            and obj.id is not None
        ):
            session.info.setdefault(_KEY, set()).add(obj.id)


@event.listens_for(Session, "after_commit")
def _enqueue(session: Session) -> None:
    ids = session.info.pop(_KEY, set())
    services = runtime.installed()
    if not ids or services is None:
        return
    from worker.delivery import enqueue_deliveries

    try:
        enqueue_deliveries(services.redis, sorted(ids))
    except RedisError:
        log.warning("queue unreachable; messages stay queued", extra={"messages": len(ids)})


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_KEY, None)


def insert_outbound_once(
    session: Session,
    *,
    contact_id: int,
    body: str,
    now: dt.datetime,
    channel: Channel = Channel.SMS,
    status: MessageStatus = MessageStatus.QUEUED,
    case_id: int | None = None,
    event_id: int | None = None,
    conversation_id: int | None = None,
    purpose: str = "",
) -> int | None:
    """Store one outbound message, unless its event already has one for this contact and
    purpose (the unique key, an atomic ``ON CONFLICT DO NOTHING``); its id, or None."""
    statement = (
        insert_for(session)(Message)
        .values(
            conversation_id=conversation_id,
            contact_id=contact_id,
            case_id=case_id,
            event_id=event_id,
            purpose=purpose,
            direction=Direction.OUTBOUND.value,
            channel=channel.value,
            body=body,
            media=[],
            status=status.value,
            error_code="",
            error_message="",
            attempts=0,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(Message.id)
    )
    return session.execute(statement).scalar_one_or_none()
