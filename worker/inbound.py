"""Recording what residents send, before anything else happens to it.

Every channel adapter turns its provider's request into an `Inbound` and calls
`record_inbound`, which commits nothing itself but writes, atomically:

- the contact (found or created by address, `INSERT … ON CONFLICT DO NOTHING`),
- the conversation (the contact's open one on that channel, or a new one),
- the message, keyed by the provider's id: a retried webhook with the same id inserts nothing
  and is reported as a duplicate (an atomic insert, never check-then-insert).

The caller commits and only then answers the provider, so nothing a resident sends is lost.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cases.models import Contact, Conversation, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus

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
    """Store an inbound message with its contact and conversation (the caller commits)."""
    contact = _contact(session, inbound)
    if inbound.provider_id is not None:
        existing = session.scalars(
            select(Message).where(
                Message.channel == inbound.channel, Message.provider_id == inbound.provider_id
            )
        ).first()
        if existing is not None:
            return Recorded(existing.id, existing.conversation_id or 0, existing.contact_id, True)
    conversation = _open_conversation(session, contact, inbound.channel, inbound.received_at)
    body = storable(inbound.body)[:MAX_BODY_CHARS]
    values = {
        "conversation_id": conversation.id,
        "contact_id": contact.id,
        "direction": Direction.INBOUND,
        "channel": inbound.channel,
        "provider_id": inbound.provider_id,
        "body": body,
        "media": list(inbound.media),
        "status": MessageStatus.RECEIVED,
        "error_message": "truncated" if len(body) < len(storable(inbound.body)) else "",
        "created_at": inbound.received_at,
    }
    insert = _insert_for(session)
    statement = (
        insert(Message)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Message.channel, Message.provider_id])
    )
    inserted = session.execute(statement.returning(Message.id)).scalar_one_or_none()
    if inserted is None:  # a concurrent retry won the race between our check and insert
        existing = session.scalars(
            select(Message).where(
                Message.channel == inbound.channel, Message.provider_id == inbound.provider_id
            )
        ).one()
        return Recorded(existing.id, existing.conversation_id or 0, existing.contact_id, True)
    conversation.last_message_at = inbound.received_at
    return Recorded(inserted, conversation.id, contact.id, False)


def storable(text: str) -> str:
    """Text any database can store: no NUL characters, no unpaired surrogates.

    PostgreSQL refuses NUL in text and UTF-8 cannot encode a lone surrogate; both arrive in
    real traffic (broken phones, fuzzers), and neither may cost a resident their message.
    """
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _contact(session: Session, inbound: Inbound) -> Contact:
    kind = _ADDRESS_KIND.get(inbound.channel, AddressKind.WEB)
    insert = _insert_for(session)
    session.execute(
        insert(Contact)
        .values(
            kind=kind.value,
            address=storable(inbound.address)[:128],
            phone=inbound.phone,
            name="",
            language="zh",
            opted_out=False,
            created_at=inbound.received_at,
        )
        .on_conflict_do_nothing(index_elements=[Contact.kind, Contact.address])
    )
    contact = session.scalars(
        select(Contact).where(
            Contact.kind == kind, Contact.address == storable(inbound.address)[:128]
        )
    ).one()
    if inbound.phone and not contact.phone:
        contact.phone = inbound.phone
    return contact


def _open_conversation(
    session: Session, contact: Contact, channel: Channel, now: dt.datetime
) -> Conversation:
    conversation = session.scalars(
        select(Conversation)
        .where(
            Conversation.contact_id == contact.id,
            Conversation.channel == channel,
            Conversation.closed_at.is_(None),
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    ).first()
    if conversation is None:
        conversation = Conversation(
            contact_id=contact.id,
            channel=channel,
            state={},
            language=contact.language,
            last_message_at=now,
            created_at=now,
        )
        session.add(conversation)
        session.flush()
    return conversation


def _insert_for(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
