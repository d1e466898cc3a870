"""WeChat official account (公众号) webhook: URL verification, messages and events, replies.

`GET /wechat`: the URL check of the 公众号 console's 服务器配置 — echo `echostr` when the
signature (sha1 of the sorted token, timestamp and nonce) is right, 403 otherwise.

`POST /wechat`: every request is signed the same way (403 when not); in safe mode
(`encrypt_type=aes`) the body is also encrypted and signed (`msg_signature`), and the reply is
encrypted back. A message is recorded and committed before anything else (keyed by `MsgId`;
events by sender, `CreateTime` and event), so WeChat's retries change nothing.

WeChat waits 5 seconds for an answer, then retries. The bot therefore runs in a thread while
the request waits at most `ZHITONG_WECHAT_REPLY_BUDGET` seconds: if the bot answers in time the
replies go back passively in the response; if not, WeChat gets `success` at once and, when the
bot finishes, its replies are queued for the customer-service message API (`worker.delivery`).
A lock decides which of the two delivers them, so a resident never gets a reply twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import struct
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from functools import cache
from typing import Any
from xml.parsers.expat import ExpatError

from flask import Blueprint, Response, abort, request
from redis.exceptions import RedisError
from sqlalchemy import update
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException, WeChatException
from wechatpy.messages import (
    BaseMessage,
    ImageMessage,
    LocationMessage,
    TextMessage,
    VoiceMessage,
)
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.texts import Texts, load_texts
from cases.db import session_scope
from cases.models import Contact, Message
from cases.models.messaging import Channel, Direction, MessageStatus
from cases.settings import Settings
from intents import DATA_DIR
from webhooks.extensions import Services, services
from worker.delivery import enqueue_delivery
from worker.inbound import Inbound, record_inbound
from worker.shell import Handled, handle_or_count

log = logging.getLogger(__name__)
bp = Blueprint("wechat", __name__)

TEXTS_PATH = DATA_DIR / "wechat.yml"
# WeChat's messages are a few hundred bytes; anything near this is not from WeChat.
MAX_BODY_BYTES = 64 * 1024
# A passive text reply holds at most this many UTF-8 bytes; longer answers go through the API.
PASSIVE_LIMIT_BYTES = 2048
BOT_THREADS = 16
ACK = "success"  # WeChat's "received, no passive reply"
# A real openid is 28 characters of this alphabet; the bound keeps event ids within 64.
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_SUBSCRIBE_EVENTS = {"subscribe", "subscribe_scan", "subscribe_scan_product"}
# What a hostile or broken body can make the XML parser or the AES layer raise.
_UNREADABLE = (
    ExpatError,
    WeChatException,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
)


class BadRequestError(ValueError):
    """The request is not a WeChat message we can read (answered with 400)."""


@dataclass(frozen=True)
class Envelope:
    """A verified, decrypted and parsed push from WeChat, and how to answer it."""

    message: BaseMessage
    crypto: WeChatCrypto | None  # set in safe mode: the reply is encrypted too
    nonce: str


@bp.get("/wechat")
def verify_url() -> Response:
    """The console's URL check: echo `echostr` when the signature is right."""
    require_signature(services().settings)
    return Response(request.args.get("echostr", ""), mimetype="text/plain")


@bp.post("/wechat")
def incoming() -> Response:
    """A message or event pushed by WeChat."""
    svc = services()
    require_signature(svc.settings)
    try:
        envelope = read_envelope(svc.settings)
    except BadRequestError as exc:
        log.warning("unreadable WeChat request", extra={"reason": str(exc)})
        abort(400, description=str(exc))
    message = envelope.message
    if _text(message._data.get("MsgType")).lower() == "event":
        return answer_event(svc, envelope)
    text = bot_text(message)
    if text:
        return answer_with_bot(svc, envelope, text)
    key = "wechat_image_received" if isinstance(message, ImageMessage) else "wechat_send_text"
    return answer_directly(svc, envelope, inbound_of(message, ""), key)


def require_signature(settings: Settings) -> None:
    """404 when no token is configured; 403 unless signed with it as WeChat signs."""
    if not settings.wechat_token:
        log.warning("WeChat request, but ZHITONG_WECHAT_TOKEN is not set")
        abort(404)
    args = request.args
    try:
        check_signature(
            settings.wechat_token,
            args.get("signature", ""),
            args.get("timestamp", ""),
            args.get("nonce", ""),
        )
    except InvalidSignatureException:
        log.warning("rejected a request with a missing or wrong WeChat signature")
        abort(403)


def read_envelope(settings: Settings) -> Envelope:
    """The request's message: size and encoding checked, decrypted in safe mode, parsed.

    Raises:
        BadRequestError: empty, too large, not UTF-8, not WeChat's XML, or a bad AES payload.
    """
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise BadRequestError("body too large")
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY_BYTES:
        raise BadRequestError("body too large")
    if not body.strip():
        raise BadRequestError("empty body")
    try:
        xml = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("body is not UTF-8") from None
    if "<!" in xml.upper().replace("<![CDATA[", ""):
        raise BadRequestError("DTDs and declarations are not accepted")
    nonce = request.args.get("nonce", "")
    crypto = None
    if request.args.get("encrypt_type", "raw").lower() == "aes":
        crypto = _crypto(settings)
        try:
            xml = crypto.decrypt_message(
                xml, request.args.get("msg_signature", ""), request.args.get("timestamp", ""), nonce
            )
        except InvalidSignatureException:
            log.warning("rejected a WeChat message with a wrong msg_signature")
            abort(403)
        except (*_UNREADABLE, struct.error) as exc:
            raise BadRequestError(f"cannot decrypt: {type(exc).__name__}") from None
    try:
        message = parse_message(xml)
    except _UNREADABLE as exc:
        raise BadRequestError(f"not a WeChat message: {type(exc).__name__}") from None
    if message is None or not _OPENID.fullmatch(_text(message.source)):
        raise BadRequestError("FromUserName missing or malformed")
    if not _DIGITS.fullmatch(_text(message._data.get("CreateTime"))):
        raise BadRequestError("CreateTime missing or malformed")
    is_event = _text(message._data.get("MsgType")).lower() == "event"
    if not is_event and not _DIGITS.fullmatch(_text(message._data.get("MsgId"))):
        raise BadRequestError("MsgId missing or malformed")
    return Envelope(message, crypto, nonce)


def bot_text(message: BaseMessage) -> str:
    """What the bot reads of a message: the text, a voice message's recognised speech, or a
    location's label; empty when there is nothing to read."""
    if isinstance(message, TextMessage):
        return _text(message.content) or " "  # an empty text still goes to the bot, as SMS does
    if isinstance(message, VoiceMessage):
        return _text(message.recognition).strip()
    if isinstance(message, LocationMessage):
        return _text(message.label).strip()
    return ""


def inbound_of(message: BaseMessage, body: str) -> Inbound:
    """The channel-neutral inbound message of a WeChat message (its MsgId checked before)."""
    return Inbound(
        channel=Channel.WECHAT,
        address=_text(message.source),
        body=body.strip(),
        received_at=dt.datetime.now(dt.UTC),
        provider_id=_text(message._data.get("MsgId")),
        media=tuple(_media(message)),
    )


def answer_with_bot(svc: Services, envelope: Envelope, text: str) -> Response:
    """Record the message, run the bot within the budget, answer passively or acknowledge."""
    with session_scope(svc.sessions) as session:
        recorded = record_inbound(session, inbound_of(envelope.message, text))
        stored = session.get(Message, recorded.message_id)
        waiting = stored is not None and stored.status is MessageStatus.RECEIVED
    # A retry of a message already handled changes nothing. One still waiting (its first run
    # failed, or its process died) is run again: the shell takes a message once, so a run
    # still going elsewhere and this one cannot both answer.
    if recorded.duplicate and not waiting:
        return acknowledge()
    race = _Race()
    future = _submit(svc, recorded.message_id, race)
    try:
        handled = future.result(timeout=svc.settings.wechat_reply_budget)
    except FutureTimeout:
        if race.give_up():
            log.info("bot over budget; replies follow", extra={"message_id": recorded.message_id})
            return acknowledge()
        handled = future.result()  # it finished meanwhile: the replies are still ours
    if handled is None or not handled.replies:
        return acknowledge()
    joined = "\n\n".join(handled.replies)
    if len(joined.encode("utf-8")) > PASSIVE_LIMIT_BYTES:
        queue_replies(svc, handled.reply_ids)
        return acknowledge()
    return passive_reply(envelope, joined)


def answer_event(svc: Services, envelope: Envelope) -> Response:
    """Subscribe: welcome (and opt in); unsubscribe: opt out, silently; others: acknowledge."""
    event = _text(envelope.message._data.get("Event")).lower()
    if event not in _SUBSCRIBE_EVENTS and event != "unsubscribe":
        return acknowledge()
    name = "subscribe" if event in _SUBSCRIBE_EVENTS else "unsubscribe"
    source, created = _text(envelope.message.source), _text(envelope.message._data["CreateTime"])
    inbound = Inbound(
        channel=Channel.WECHAT,
        address=source,
        body="",
        received_at=dt.datetime.now(dt.UTC),
        provider_id=f"event:{source}:{created}:{name}",
    )
    key = "wechat_welcome" if name == "subscribe" else None
    return answer_directly(svc, envelope, inbound, key, opted_out=name == "unsubscribe")


def answer_directly(
    svc: Services,
    envelope: Envelope,
    inbound: Inbound,
    text_key: str | None,
    *,
    opted_out: bool | None = None,
) -> Response:
    """Record a message the bot need not read, with the webhook's own reply, in one commit.

    Args:
        svc: the app's services.
        envelope: the request.
        inbound: what to record (a retry of it changes nothing and gets no reply).
        text_key: the reply from `intents/wechat.yml`, or None for no reply.
        opted_out: set the follower's opt-out state (following opts in, leaving opts out).
    """
    now = dt.datetime.now(dt.UTC)
    with session_scope(svc.sessions) as session:
        recorded = record_inbound(session, inbound)
        if recorded.duplicate:
            return acknowledge()
        message = session.get(Message, recorded.message_id)
        contact = session.get(Contact, recorded.contact_id)
        assert message is not None and contact is not None
        message.status, message.processed_at = MessageStatus.PROCESSED, now
        if opted_out is not None and contact.opted_out != opted_out:
            contact.opted_out, contact.opted_out_at = opted_out, now if opted_out else None
        if text_key is None:
            return acknowledge()
        body = wechat_texts().template(text_key, contact.language or "zh")
        session.add(
            Message(
                conversation_id=recorded.conversation_id,
                contact_id=contact.id,
                direction=Direction.OUTBOUND,
                channel=Channel.WECHAT,
                body=body,
                media=[],
                status=MessageStatus.SENT,
                sent_at=now,
                created_at=now,
            )
        )
    return passive_reply(envelope, body)


def passive_reply(envelope: Envelope, text: str) -> Response:
    """A text reply in the response, encrypted in safe mode."""
    xml = TextReply(message=envelope.message, content=text).render()
    if envelope.crypto is not None:
        xml = envelope.crypto.encrypt_message(xml, envelope.nonce)
    return Response(xml, mimetype="application/xml")


def acknowledge() -> Response:
    """`success`: WeChat neither retries nor shows anything."""
    return Response(ACK, mimetype="text/plain")


def queue_replies(svc: Services, reply_ids: Iterable[int]) -> list[int]:
    """Hand replies stored as sent passively to the delivery job (customer-service API) instead.

    Only replies still `sent` without a provider id are taken, in one conditional UPDATE, so
    this never re-sends a reply that went out. A queue outage leaves them `queued` for the
    recovery sweep.
    """
    ids = list(reply_ids)
    if not ids:
        return []
    with session_scope(svc.sessions) as session:
        taken = list(
            session.scalars(
                update(Message)
                .where(
                    Message.id.in_(ids),
                    Message.direction == Direction.OUTBOUND,
                    Message.status == MessageStatus.SENT,
                    Message.provider_id.is_(None),
                )
                .values(status=MessageStatus.QUEUED, sent_at=None)
                .returning(Message.id),
            )
        )
    for message_id in sorted(taken):
        try:
            enqueue_delivery(svc.redis, message_id)
        except RedisError:
            log.warning("queue unreachable; reply stays queued", extra={"message_id": message_id})
    return taken


def drain(timeout: float | None = None) -> bool:
    """Wait for bot runs still going after their request stopped waiting; True when none is
    left (a graceful shutdown, and tests)."""
    with _pending_lock:
        running = list(_pending)
    _done, not_done = wait_futures(running, timeout=timeout)
    return not not_done


@cache
def wechat_texts() -> Texts:
    """The webhook's own texts (`intents/wechat.yml`), loaded once."""
    return load_texts(TEXTS_PATH)


class _Race:
    """Who delivers one message's replies: the request, passively, or — once the request has
    stopped waiting — the bot's thread, through the API. Exactly one of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "running"

    def finish(self) -> bool:
        """The bot is done; True when the request is still waiting and will answer."""
        with self._lock:
            if self._state == "running":
                self._state = "finished"
                return True
            return False

    def give_up(self) -> bool:
        """The request stops waiting; True when the bot was not done yet."""
        with self._lock:
            if self._state == "running":
                self._state = "abandoned"
                return True
            return False


_executor: ThreadPoolExecutor | None = None
_pending: set[Future[Handled | None]] = set()
_pending_lock = threading.Lock()


def _submit(svc: Services, message_id: int, race: _Race) -> Future[Handled | None]:
    global _executor
    with _pending_lock:
        if _executor is None:  # made on first use, so a forking server forks no threads
            _executor = ThreadPoolExecutor(BOT_THREADS, thread_name_prefix="wechat-bot")
        future = _executor.submit(_run_bot, svc, message_id, race)
        _pending.add(future)
    future.add_done_callback(_forget)
    return future


def _forget(future: Future[Handled | None]) -> None:
    with _pending_lock:
        _pending.discard(future)


def _run_bot(svc: Services, message_id: int, race: _Race) -> Handled | None:
    handled = handle_or_count(svc, message_id, synchronous=True)
    if handled is None:
        race.finish()
        return None
    if not race.finish():  # the request has answered `success`: deliver through the API
        queue_replies(svc, handled.reply_ids)
    return handled


def _crypto(settings: Settings) -> WeChatCrypto:
    if not (settings.wechat_aes_key and settings.wechat_app_id):
        raise BadRequestError("safe mode needs ZHITONG_WECHAT_AES_KEY and ZHITONG_WECHAT_APP_ID")
    return WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id)


def _media(message: BaseMessage) -> Iterable[dict[str, Any]]:
    if isinstance(message, ImageMessage):
        yield {
            "url": _text(message.image),
            "content_type": "image",
            "media_id": _text(message.media_id),
        }
    elif isinstance(message, VoiceMessage):
        yield {
            "content_type": f"audio/{_text(message.format).lower()}",
            "media_id": _text(message.media_id),
        }
    elif isinstance(message, LocationMessage):
        yield {
            "content_type": "location",
            "latitude": _text(message._data.get("Location_X")),
            "longitude": _text(message._data.get("Location_Y")),
            "label": _text(message.label),
        }
    else:
        media_id = _text(message._data.get("MediaId"))
        url = _text(message._data.get("Url"))
        if media_id or url:
            yield {"url": url, "content_type": message.type, "media_id": media_id}


def _text(value: object) -> str:
    """A field as text; nested XML (a dict) or anything else odd counts as missing."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""
