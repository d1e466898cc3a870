"""Long outbound messages, cut at sentence boundaries into parts a phone shows well.

A carrier joins the segments of a long SMS again, but old phones show more than a few segments
badly, and Twilio refuses bodies over 1,600 characters. When the delivery job claims a message
longer than its channel allows, the message keeps the first part and each further part becomes
its own queued message in the same transaction (same conversation, case and contact, no event:
the event's notification key stays on the first part). The parts are numbered "(1/3)" so the
resident can read them in order even when the network delivers them out of order.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from bot.texts import sms_segments, split_text
from cases.models import Message
from cases.models.messaging import Channel, MessageStatus

# The largest part per channel and how it is measured: SMS in segments (5 segments: 335
# Chinese or 765 GSM-7 characters), WeChat customer-service texts in bytes (the API takes
# 2,048; a margin is kept for the part number). Other channels take any length.
SMS_SEGMENTS_PER_PART = 5
PART_LIMITS: dict[Channel, tuple[int, Callable[[str], int]]] = {
    Channel.SMS: (SMS_SEGMENTS_PER_PART, sms_segments),
    Channel.WHATSAPP: (1500, len),
    Channel.WECHAT: (2000, lambda text: len(text.encode())),
}
# Room for the "(12/12)" marker when a part is measured.
_MARKER = "(00/00)"


def split_long_message(session: Session, message: Message) -> list[Message]:
    """Cut `message` in place when it is too long for its channel; returns the new parts.

    The caller's transaction commits the shortened message with its new parts (queued), so
    the cut happens once: a retried job finds a message that already fits.
    """
    limit = PART_LIMITS.get(message.channel)
    if limit is None:
        return []
    size, measure = limit
    if measure(message.body) <= size:
        return []
    parts = split_text(message.body, size, lambda text: measure(text + _MARKER))
    if len(parts) < 2:
        return []
    total = len(parts)
    message.body = f"{parts[0]}(1/{total})"
    added = [
        Message(
            conversation_id=message.conversation_id,
            contact_id=message.contact_id,
            case_id=message.case_id,
            direction=message.direction,
            channel=message.channel,
            body=f"{part}({index}/{total})",
            media=[],
            status=MessageStatus.QUEUED,
        )
        for index, part in enumerate(parts[1:], start=2)
    ]
    session.add_all(added)
    return added
