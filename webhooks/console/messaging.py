"""Messages from an agent to a resident: stored as outbound rows for the sender to deliver.

No sender exists yet: `queue_outbound_message` only stores the row (status queued, or
suppressed when the resident opted out). The outbound sender in `worker/` picks up queued rows
and sends them on the message's channel; nothing is enqueued here until it exists.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import Case, CaseEvent, Contact, Conversation, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus

# The channel a reply goes out on when the resident has no conversation to answer in.
CHANNEL_OF_ADDRESS = {
    AddressKind.PHONE: Channel.SMS,
    AddressKind.WHATSAPP: Channel.WHATSAPP,
    AddressKind.WECHAT: Channel.WECHAT,
    AddressKind.WEB: Channel.WEB,
}


def queue_outbound_message(
    session: Session,
    contact: Contact,
    body: str,
    case: Case | None = None,
    *,
    conversation: Conversation | None = None,
    event: CaseEvent | None = None,
) -> Message:
    """Store a message to a resident, to go out on the resident's channel.

    The channel is the conversation's (the case's conversation when none is given, else the
    contact's latest one), or the channel of the contact's address. The caller commits.

    Args:
        session: the request's session.
        contact: who receives it.
        body: the text, as the resident will read it.
        case: the case it is about, if any.
        conversation: the conversation it answers, if known.
        event: the case event it notifies of (one message per event and contact).

    Returns:
        The new message, status queued (suppressed when the contact opted out).
    """
    if conversation is None and case is not None and case.conversation_id is not None:
        conversation = session.get(Conversation, case.conversation_id)
    if conversation is None or conversation.contact_id != contact.id:
        conversation = session.scalars(
            select(Conversation)
            .where(Conversation.contact_id == contact.id)
            .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
            .limit(1)
        ).first()
    channel = _reply_channel(contact, conversation)
    if event is not None and event.id is None:
        session.flush()  # the message names the event by id
    message = Message(
        conversation_id=conversation.id if conversation else None,
        contact_id=contact.id,
        case_id=case.id if case else None,
        event_id=event.id if event else None,
        direction=Direction.OUTBOUND,
        channel=channel,
        body=body.strip(),
        media=[],
        status=MessageStatus.SUPPRESSED if contact.opted_out else MessageStatus.QUEUED,
    )
    session.add(message)
    return message


def _reply_channel(contact: Contact, conversation: Conversation | None) -> Channel:
    """Voice calls are answered by SMS; every other channel in kind."""
    if conversation is not None and conversation.channel not in {
        Channel.VOICE,
        Channel.WALK_IN,
        Channel.PATROL,
        Channel.API,
    }:
        return conversation.channel
    return CHANNEL_OF_ADDRESS.get(contact.kind, Channel.SMS)
