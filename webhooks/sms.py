"""Twilio messaging webhooks: SMS and WhatsApp in, TwiML replies out, delivery statuses.

`POST /twilio/sms`: check the signature, record the message (committed before Twilio gets its
2xx), run the bot, answer with the replies as TwiML. With ZHITONG_SMS_REPLY_MODE=queued the
webhook stops after the commit: a worker runs the bot and the replies go out through the REST
API, so a surge of messages never holds web workers. A retried webhook (same MessageSid) gets
an empty answer and changes nothing. If the bot fails, the message stays recorded and the
recovery sweep handles it later; Twilio still gets a 200 so it does not retry in a loop.

`POST /twilio/sms/status`: Twilio's delivery callback; updates the outbound message's status.
"""

from __future__ import annotations

import datetime as dt
import logging

import phonenumbers
from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import select
from twilio.twiml.messaging_response import MessagingResponse

from bot.masking import mask_phone
from bot.texts import sms_segments, split_text
from cases.db import session_scope
from cases.models import Message
from cases.models.messaging import Channel, Direction, MessageStatus
from webhooks import twilio_signature
from webhooks.extensions import services
from worker.inbound import Inbound, record_inbound
from worker.long_messages import SMS_SEGMENTS_PER_PART
from worker.recovery import enqueue_inbound
from worker.shell import handle_or_count

log = logging.getLogger(__name__)
bp = Blueprint("sms", __name__)

MAX_MEDIA = 10
# Twilio's delivery states, mapped onto ours (anything else leaves the status as it is).
DELIVERY_STATUS = {
    "queued": MessageStatus.SENT,
    "accepted": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
}


def require_twilio_signature() -> None:
    """403 unless the request is signed as Twilio signs it."""
    if not twilio_signature.is_valid(
        request, services().settings, str(current_app.secret_key or "")
    ):
        log.warning("rejected a request with a missing or wrong Twilio signature")
        abort(403)


@bp.post("/twilio/sms")
def incoming() -> Response:
    """An SMS or WhatsApp message from a resident."""
    require_twilio_signature()
    inbound = parse_inbound()
    svc = services()
    with session_scope(svc.sessions) as session:
        recorded = record_inbound(session, inbound)
    if recorded.duplicate:
        return twiml([])
    if svc.settings.sms_reply_mode == "queued":
        enqueue_inbound(svc.redis, recorded.message_id)
        return twiml([])
    handled = handle_or_count(svc, recorded.message_id, synchronous=True)
    return twiml(list(handled.replies) if handled else [])  # Twilio is answered either way


@bp.post("/twilio/sms/status")
def delivery_status() -> tuple[str, int]:
    """Twilio's status callback for a message we sent."""
    require_twilio_signature()
    sid = request.form.get("MessageSid", "")
    state = DELIVERY_STATUS.get(request.form.get("MessageStatus", "").lower())
    if not sid or state is None:
        return "", 204
    with session_scope(services().sessions) as session:
        message = session.scalars(
            select(Message).where(
                Message.provider_id == sid, Message.direction == Direction.OUTBOUND
            )
        ).first()
        if message is not None:
            message.status = state
            message.error_code = request.form.get("ErrorCode", "")[:32]
    return "", 204


def parse_inbound() -> Inbound:
    """The channel-neutral message of a Twilio messaging request (400 when it is not one)."""
    get = request.form.get
    sender, sid = (
        get("From", "").strip(),
        get("MessageSid", "").strip() or get("SmsSid", "").strip(),
    )
    if not sender or not sid or len(sid) > 64:
        abort(400, description="From and MessageSid are required")
    channel = Channel.SMS
    if sender.startswith("whatsapp:"):
        channel, sender = Channel.WHATSAPP, sender.removeprefix("whatsapp:")
    phone = e164(sender)
    if phone is None:
        log.info("message from an unrecognised number", extra={"from": mask_phone(sender)})
    media = tuple(
        {"url": get(f"MediaUrl{i}", ""), "content_type": get(f"MediaContentType{i}", "")}
        for i in range(min(_int(get("NumMedia", "0")), MAX_MEDIA))
        if get(f"MediaUrl{i}")
    )
    return Inbound(
        channel=channel,
        address=phone or sender[:128],
        body=get("Body", ""),
        received_at=dt.datetime.now(dt.UTC),
        provider_id=sid,
        phone=phone,
        media=media,
    )


def e164(number: str) -> str | None:
    """A phone number in E.164, reading national Chinese numbers too; None when invalid."""
    try:
        parsed = phonenumbers.parse(number, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def twiml(replies: list[str]) -> Response:
    """A TwiML messaging response: one <Message> per reply, long replies cut at sentences."""
    response = MessagingResponse()
    for reply in replies:
        parts = split_text(reply, SMS_SEGMENTS_PER_PART, sms_segments)
        for part in parts if len(parts) > 1 else [reply]:
            response.message(part)
    return Response(str(response), mimetype="application/xml")


def _int(value: str) -> int:
    try:
        return max(0, int(value))
    except ValueError:
        return 0
