"""Recording what residents send, before anything else happens to it.

Every channel adapter turns its provider's request into an `Inbound` and calls
`record_inbound`, which commits nothing itself but writes, atomically:

- the contact (found or created by address, `INSERT … ON CONFLICT DO NOTHING`),
- the conversation (the contact's open one on that channel, or a new one),
- the message, keyed by the provider's id: a retried webhook with the same id inserts nothing
  and is reported as a duplicate (an atomic insert, never check-then-insert).

It writes with Core statements, not ORM objects: objects of these rows already loaded in the
caller's session are not refreshed by it (callers look rows up by the returned ids).

The caller commits and only then answers the provider, so nothing a resident sends is lost.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from cases.db import insert_for
from cases.models import Contact, Conversation, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.text import storable

# The longest text stored from one message; anything longer is cut and flagged, never refused.
MAX_BODY_CHARS = 5000

_ADDRESS_KIND = {
    Channel.SMS: AddressKind.PHONE,
    Channel.VOICE: AddressKind.PHONE,
    Channel.WHATSAPP: AddressKind.WHATSAPP,
    Channel.WECHAT: AddressKind.WECHAT,
    Channel.WEB: AddressKind.WEB,
}


@dataclass(frozen=True)
class Inbound:
    """One message from a resident, as every channel hands it over."""

    channel: Channel
    address: str  # E.164 phone, WhatsApp number, WeChat openid or web-chat token
    body: str
    received_at: dt.datetime
    provider_id: str | None = None  # MessageSid, MsgId, CallSid+turn …
    phone: str | None = None  # E.164 when the channel knows it (SMS, voice, WhatsApp)
    media: tuple[dict[str, Any], ...] = field(default=())


@dataclass(frozen=True)
class Recorded:
    """Where an inbound message was stored, and whether it had been stored before."""

    message_id: int
    conversation_id: int
    contact_id: int
    duplicate: bool


def record_inbound(session: Session, inbound: Inbound) -> Recorded:
    """Store an inbound message with its contact and conversation (the caller commits).

    Every webhook runs this, so it is written as a handful of prebuilt Core statements (no ORM
    objects): the contact upsert, the duplicate check, the open conversation, the message.
    """
    run = _statements(session.get_bind().dialect.name)
    contact_id, language = _contact(session, run, inbound)
    if inbound.provider_id is not None:
        existing = session.execute(
            run.message_by_provider_id,
            {"channel": inbound.channel, "provider_id": inbound.provider_id},
        ).first()
        if existing is not None:
            return Recorded(existing.id, existing.conversation_id or 0, existing.contact_id, True)
    conversation_id = _open_conversation(
        session, run, contact_id, language, inbound.channel, inbound.received_at
    )
    clean = storable(inbound.body)
    body = clean[:MAX_BODY_CHARS]
    inserted = session.execute(
        run.insert_message,
        {
            "conversation_id": conversation_id,
            "contact_id": contact_id,
            "direction": Direction.INBOUND,
            "channel": inbound.channel,
            "provider_id": inbound.provider_id,
            "body": body,
            "media": list(inbound.media),
            "status": MessageStatus.RECEIVED,
            "error_code": "",
            "error_message": "truncated" if len(body) < len(clean) else "",
            "attempts": 0,
            "created_at": inbound.received_at,
        },
    ).scalar_one_or_none()
    if inserted is None:  # a concurrent retry won the race between our check and insert
        existing = session.execute(
            run.message_by_provider_id,
            {"channel": inbound.channel, "provider_id": inbound.provider_id},
        ).one()
        return Recorded(existing.id, existing.conversation_id or 0, existing.contact_id, True)
    session.execute(
        run.touch_conversation, {"conversation": conversation_id, "at": inbound.received_at}
    )
    return Recorded(inserted, conversation_id, contact_id, False)


@dataclass(frozen=True)
class _Statements:
    """The statements of `record_inbound` for one dialect, built once per process."""

    insert_contact: Any
    contact_by_address: Any
    set_contact_phone: Any
    message_by_provider_id: Any
    open_conversation: Any
    insert_conversation: Any
    insert_message: Any
    touch_conversation: Any


@cache
def _statements(dialect: str) -> _Statements:
    insert = insert_for(dialect)
    contacts = cast(Table, Contact.__table__)
    conversations = cast(Table, Conversation.__table__)
    messages = cast(Table, Message.__table__)
    contact_columns = ("kind", "address", "phone", "name", "language", "opted_out", "created_at")
    conversation_columns = ("contact_id", "channel", "state", "language", "last_message_at")
    message_columns = (
        "conversation_id",
        "contact_id",
        "direction",
        "channel",
        "provider_id",
        "body",
        "media",
        "status",
        "error_code",
        "error_message",
        "attempts",
        "created_at",
    )
    return _Statements(
        insert_contact=insert(contacts)
        .values({name: bindparam(name) for name in contact_columns})
        .on_conflict_do_nothing(index_elements=["kind", "address"]),
        contact_by_address=select(contacts.c.id, contacts.c.phone, contacts.c.language).where(
            contacts.c.kind == bindparam("kind"), contacts.c.address == bindparam("address")
        ),
        set_contact_phone=update(contacts)
        .where(contacts.c.id == bindparam("contact"), contacts.c.phone.is_(None))
        .values(phone=bindparam("new_phone")),
        message_by_provider_id=select(
            messages.c.id, messages.c.conversation_id, messages.c.contact_id
        ).where(
            messages.c.channel == bindparam("channel"),
            messages.c.provider_id == bindparam("provider_id"),
        ),
        open_conversation=select(conversations.c.id)
        .where(
            conversations.c.contact_id == bindparam("contact_id"),
            conversations.c.channel == bindparam("channel"),
            conversations.c.closed_at.is_(None),
        )
        .order_by(conversations.c.id.desc())
        .limit(1),
        insert_conversation=insert(conversations)
        .values(
            {name: bindparam(name) for name in conversation_columns}
            | {"created_at": bindparam("last_message_at"), "version": 1}
        )
        .returning(conversations.c.id),
        insert_message=insert(messages)
        .values({name: bindparam(name) for name in message_columns})
        .on_conflict_do_nothing(index_elements=["channel", "provider_id"])
        .returning(messages.c.id),
        touch_conversation=update(conversations)
        .where(conversations.c.id == bindparam("conversation"))
        .values(last_message_at=bindparam("at")),
    )


def _contact(session: Session, run: _Statements, inbound: Inbound) -> tuple[int, str]:
    """The sender's contact id and language, the contact created on first contact."""
    kind = _ADDRESS_KIND.get(inbound.channel, AddressKind.WEB)
    address = storable(inbound.address)[:128]
    session.execute(
        run.insert_contact,
        {
            "kind": kind,
            "address": address,
            "phone": inbound.phone,
            "name": "",
            "language": "zh",
            "opted_out": False,
            "created_at": inbound.received_at,
        },
    )
    contact = session.execute(run.contact_by_address, {"kind": kind, "address": address}).one()
    if inbound.phone and not contact.phone:
        session.execute(run.set_contact_phone, {"contact": contact.id, "new_phone": inbound.phone})
    return contact.id, contact.language


def _open_conversation(
    session: Session,
    run: _Statements,
    contact_id: int,
    language: str,
    channel: Channel,
    now: dt.datetime,
) -> int:
    """The contact's open conversation on `channel`, or a new one."""
    found = session.execute(
        run.open_conversation, {"contact_id": contact_id, "channel": channel}
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    return int(
        session.execute(
            run.insert_conversation,
            {
                "contact_id": contact_id,
                "channel": channel,
                "state": {},
                "language": language,
                "last_message_at": now,
            },
        ).scalar_one()
    )
