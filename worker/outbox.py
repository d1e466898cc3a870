"""The outbox: every outbound message committed as `queued` is handed to the delivery job.

Whoever creates a message — the console resolving a case, a breach alert, a bot reply on an
asynchronous channel — only stores it; once the transaction commits, these session hooks queue
its delivery. A rollback queues nothing, so a message is never sent for work that did not
happen. Enqueuing twice is harmless (the delivery job claims the row), and a queue that cannot be
reached loses nothing: the message stays `queued` in the database.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from cases.models import Message
from cases.models.messaging import Direction, MessageStatus
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
    from worker.delivery import enqueue_delivery

    for message_id in sorted(ids):
        try:
            enqueue_delivery(services.redis, message_id)
        except RedisError:
            log.warning("queue unreachable; message stays queued", extra={"message_id": message_id})


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_KEY, None)
