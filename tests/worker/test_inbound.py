"""Recording inbound messages: atomic, idempotent per provider id, one contact per address."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.models import Contact, Conversation, Message
from cases.models.messaging import Channel, MessageStatus
from worker.inbound import MAX_BODY_CHARS, Inbound, record_inbound

NOW = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)


def sms(
    body: str = "村口路灯坏了", sid: str | None = "SM1", address: str = "+8613800138000"
) -> Inbound:
    """An inbound SMS as the Twilio adapter hands it over."""
    return Inbound(Channel.SMS, address, body, NOW, provider_id=sid, phone=address)


def count(session: Session, model: type) -> int:
    """Rows of a model."""
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_first_message_creates_contact_conversation_and_message(session: Session) -> None:
    """A new number gets a contact, an open conversation and a received message."""
    recorded = record_inbound(session, sms())
    session.commit()
    assert not recorded.duplicate
    message = session.get(Message, recorded.message_id)
    assert message is not None and message.status is MessageStatus.RECEIVED
    assert message.body == "村口路灯坏了" and message.conversation_id == recorded.conversation_id


def test_retried_webhook_is_a_duplicate_and_changes_nothing(session: Session) -> None:
    """The same MessageSid twice stores one message and reports the second as duplicate."""
    first = record_inbound(session, sms())
    session.commit()
    second = record_inbound(session, sms())
    session.commit()
    assert second.duplicate and second.message_id == first.message_id
    assert count(session, Message) == 1 and count(session, Contact) == 1


def test_messages_without_provider_id_are_all_kept(session: Session) -> None:
    """Channels without ids (web chat) never lose a message to the duplicate check."""
    record_inbound(session, sms(sid=None))
    record_inbound(session, sms(sid=None))
    session.commit()
    assert count(session, Message) == 2


def test_sms_and_voice_share_the_contact_but_not_the_conversation(session: Session) -> None:
    """A resident who texts and then calls is the same contact."""
    texted = record_inbound(session, sms())
    called = record_inbound(
        session, Inbound(Channel.VOICE, "+8613800138000", "路灯", NOW, "CA1-1", "+8613800138000")
    )
    session.commit()
    assert texted.contact_id == called.contact_id
    assert texted.conversation_id != called.conversation_id
    assert count(session, Conversation) == 2


def test_huge_body_is_cut_and_flagged_not_refused(session: Session) -> None:
    """A 100,000-character message is stored (cut) with a flag, never dropped."""
    recorded = record_inbound(session, sms(body="长" * 100_000))
    session.commit()
    message = session.get(Message, recorded.message_id)
    assert message is not None and len(message.body) == MAX_BODY_CHARS
    assert message.error_message == "truncated"


def test_next_message_joins_the_open_conversation(session: Session) -> None:
    """Messages from one address on one channel form one conversation."""
    first = record_inbound(session, sms(sid="SM1"))
    second = record_inbound(session, sms(sid="SM2", body="在东门社区"))
    session.commit()
    assert first.conversation_id == second.conversation_id and not second.duplicate


def test_nul_and_lone_surrogates_are_stored_not_refused(session: Session) -> None:
    """NUL bytes and unpaired surrogates (PostgreSQL refuses both) are cleaned, not fatal."""
    recorded = record_inbound(session, sms(body="路灯\x00坏了\ud800", sid="SM9"))
    session.commit()
    message = session.get(Message, recorded.message_id)
    assert message is not None and message.body == "路灯坏了?"
