"""The messaging aggregate: contacts, conversations and every message in and out."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cases.models.base import Base, StrEnumType, utcnow


class Channel(enum.StrEnum):
    """Where a message or case came from."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    VOICE = "voice"
    WECHAT = "wechat"
    WEB = "web"
    WALK_IN = "walk_in"  # registered by an agent at the window
    PATROL = "patrol"  # reported by a grid inspector on patrol
    API = "api"  # submitted by another system (REST, Open311)


class AddressKind(enum.StrEnum):
    """The address space a contact is reached in; SMS and voice share the phone number."""

    PHONE = "phone"
    WHATSAPP = "whatsapp"
    WECHAT = "wechat"
    WEB = "web"


class Direction(enum.StrEnum):
    """Inbound from a resident, or outbound to one."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageStatus(enum.StrEnum):
    """Processing state of inbound messages and delivery state of outbound ones."""

    RECEIVED = "received"  # committed, not yet handled by the bot
    PROCESSED = "processed"
    FAILED = "failed"
    QUEUED = "queued"
    HELD = "held"  # waiting for the end of quiet hours
    SENDING = "sending"  # handed to a sender; a stale one is retried by the recovery sweep
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    SUPPRESSED = "suppressed"  # not sent: the address opted out


class Contact(Base):
    """A resident as reached on one address (phone number, WeChat openid, web session)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AddressKind] = mapped_column(StrEnumType(AddressKind))
    address: Mapped[str] = mapped_column(String(128))
    # E.164 number when known, linking a WhatsApp or WeChat contact to the same person's phone.
    phone: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(64), default="")
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    opted_out: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("kind", "address"),
        Index("ix_contacts_phone", "phone"),
    )


class Conversation(Base):
    """One thread with a resident on one channel; holds the bot's dialogue state."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel))
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    handoff_requested_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    last_message_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Optimistic lock: two messages from one resident handled at once cannot both win.
    version: Mapped[int] = mapped_column(default=1)

    contact: Mapped[Contact] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (Index("ix_conversations_contact_id", "contact_id"),)


class Message(Base):
    """A message in or out, stored before anything else happens to it."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    # The case event this outbound message notifies of: one notification per event and contact.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_events.id"))
    direction: Mapped[Direction] = mapped_column(StrEnumType(Direction))
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel))
    # The provider's id (Twilio MessageSid, WeChat MsgId): a retried webhook is recognised by it.
    provider_id: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[MessageStatus] = mapped_column(StrEnumType(MessageStatus))
    error_code: Mapped[str] = mapped_column(String(32), default="")
    error_message: Mapped[str] = mapped_column(String(255), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    # When a delivery claimed it (queued → sending); the recovery sweep re-queues a stale claim.
    claimed_at: Mapped[dt.datetime | None]
    # What an event's message is for (`worker.notify`): "" the notification (or a staff alert),
    # "survey" the 好差评 request after 办结, "reminder" its one reminder.
    purpose: Mapped[str] = mapped_column(String(16), default="", server_default="")

    __table_args__ = (
        UniqueConstraint("channel", "provider_id"),
        UniqueConstraint("event_id", "contact_id", "purpose"),
        Index("ix_messages_conversation_id", "conversation_id"),
        Index("ix_messages_status_direction", "status", "direction"),
        Index("ix_messages_case_id", "case_id"),
    )


class CallStatus(enum.StrEnum):
    """Where a hotline call stands (Twilio's final statuses, plus where we sent the caller)."""

    IN_PROGRESS = "in_progress"  # talking to the bot
    AGENT_QUEUE = "agent_queue"  # put in the agents' queue (<Enqueue>)
    VOICEMAIL = "voicemail"  # leaving a message after hours (<Record>)
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    CANCELED = "canceled"


class Call(Base):
    """One call to the hotline (Twilio CallSid), with its counters and what it produced."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    caller: Mapped[str] = mapped_column(String(128))  # E.164 when valid, else as Twilio sent it
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    status: Mapped[CallStatus] = mapped_column(StrEnumType(CallStatus))
    turn: Mapped[int] = mapped_column(default=0)  # the highest turn answered
    # Consecutive turns without usable input; two re-prompts, then a person is offered.
    no_input: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]
    duration_seconds: Mapped[int | None]
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    recording_url: Mapped[str] = mapped_column(String(512), default="")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))  # the last case opened

    __table_args__ = (
        UniqueConstraint("call_sid"),
        Index("ix_calls_contact_id", "contact_id"),
    )


class CallTurn(Base):
    """One webhook of a call and the TwiML it was answered with; a retry gets the same answer."""

    __tablename__ = "call_turns"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"))
    turn: Mapped[int]
    step: Mapped[str] = mapped_column(String(32))  # greeting, gather, case_number, voicemail …
    speech: Mapped[str] = mapped_column(Text, default="")
    digits: Mapped[str] = mapped_column(String(64), default="")
    confidence: Mapped[float | None]
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    twiml: Mapped[str] = mapped_column(Text, default="")  # empty until the answer is decided
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("call_id", "turn"),)
