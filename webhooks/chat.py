"""Web chat: the resident page at `GET /chat` and its JSON API at `/api/chat`.

The page (no external assets: county intranets have no internet) talks to the API with a
per-browser conversation token kept in the browser's localStorage, never in a cookie:

- `POST /api/chat` `{"token", "text", "client_id"}`: the first request (no token) gets a new
  token. A token is a random id signed with the app's secret key (itsdangerous), so nobody can
  make one up or guess another browser's; the database only keeps a hash of the id as the
  contact's address. The message is recorded and committed like every channel's
  (`worker.inbound`), the bot runs at once (`worker.shell`), and the replies come back in the
  response. `client_id` is the page's id for the message: a retried POST (network flake) is
  recognised by it, changes nothing and gets the same replies again.
- `GET /api/chat?after=<id>` with the token (header `X-Chat-Token`, or `token=`): the messages
  of this browser's conversation after `after` — the history on reload, and the notifications
  (status changes, results, surveys) queued for it meanwhile. Web chat has no push: a queued
  message is delivered when the page fetches it, and is marked so.

Rate limits per token and per address (Flask-Limiter, on Redis when configured) keep one
browser or one machine from flooding the bot; the numbers are in `app.config` (CHAT_*).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import force_locale
from itsdangerous import BadSignature, Signer
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from bot.dialogue.state import DialogueState
from cases.db import session_scope
from cases.models import Contact, Conversation, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.text import storable
from webhooks.api.bodies import parse_json
from webhooks.api.errors import ApiProblem, json_error, register_handlers
from webhooks.api.ratelimit import app_limiter, never_raising
from webhooks.extensions import get_db, services
from webhooks.i18n import DEFAULT_LANGUAGE, LANGUAGES
from worker.inbound import MAX_BODY_CHARS, Inbound, Recorded, record_inbound
from worker.shell import handle_or_count

log = logging.getLogger(__name__)
bp = Blueprint("chat", __name__)
register_handlers(bp, json_error)

MAX_TEXT_CHARS = 2000
MAX_TOKEN_CHARS = 200
MAX_FETCHED = 100
TOKEN_HEADER = "X-Chat-Token"
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,40}")
_SALT = "zhitong-web-chat"
# Outbound states a fetch turns into "delivered": the browser now has the message. `sending`
# is left to whoever is sending it; `suppressed` (opted out) is never shown.
_FETCHABLE = (
    MessageStatus.QUEUED,
    MessageStatus.SENT,
    MessageStatus.FAILED,
    MessageStatus.UNDELIVERED,
)
_HIDDEN = (MessageStatus.SUPPRESSED,)

# Rate limits (Flask-Limiter notation), overridable in app.config.
DEFAULT_LIMITS = {
    "CHAT_RATE_LIMIT_TOKEN": "20 per minute",
    "CHAT_RATE_LIMIT_IP": "60 per minute",
    "CHAT_POLL_RATE_LIMIT_TOKEN": "30 per minute",
    "CHAT_POLL_RATE_LIMIT_IP": "600 per minute",
}


@dataclass(frozen=True)
class Visitor:
    """One browser's conversation: its token and the contact address derived from it."""

    token: str
    key: str  # sha256 of the token's random id: never the token itself

    @property
    def address(self) -> str:
        """The contact's address (kind `web`)."""
        return f"web:{self.key[:40]}"

    def provider_id(self, client_id: str) -> str:
        """The message's idempotency key: the browser's id for it, scoped to this browser."""
        return f"{self.key[:20]}:{client_id}"


def issue_token(secret_key: str) -> Visitor:
    """A new conversation token: a random id, signed."""
    raw = secrets.token_urlsafe(24)
    token = Signer(secret_key, salt=_SALT).sign(raw).decode("ascii")
    return Visitor(token, _digest(raw))


def read_token(secret_key: str, token: str) -> Visitor:
    """The visitor of a token this app issued.

    Raises:
        ApiProblem: 403 when the token is malformed, forged or signed by another key.
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise _bad_token()
    try:
        raw = Signer(secret_key, salt=_SALT).unsign(token.encode("ascii")).decode("ascii")
    except (BadSignature, UnicodeError):
        raise _bad_token() from None
    return Visitor(token, _digest(raw))


@bp.get("/chat")
def page() -> ResponseReturnValue:
    """The chat page, in the language the browser prefers (Chinese unless it prefers English)."""
    language = request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)
    with force_locale(language or DEFAULT_LANGUAGE):
        html = render_template(
            "chat.html", language=language, max_chars=MAX_TEXT_CHARS, token_header=TOKEN_HEADER
        )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; object-src 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Vary"] = "Accept-Language"
    return response


@bp.post("/api/chat")
def send() -> Response:
    """A message from the page: record it, run the bot, answer with its replies."""
    body = _json_body()
    text, client_id, visitor = _text(body), _client_id(body), _visitor(body.get("token"))
    svc = services()
    inbound = Inbound(
        channel=Channel.WEB,
        address=visitor.address,
        body=text,
        received_at=dt.datetime.now(dt.UTC),
        provider_id=visitor.provider_id(client_id),
    )
    with session_scope(svc.sessions) as session:
        recorded = record_inbound(session, inbound)
        if recorded.duplicate:
            _check_retry(session, recorded.message_id, text)
        else:
            _adopt_page_language(session, recorded, body.get("language"))
    _run_bot(recorded.message_id)
    replies = replies_to(get_db(), recorded.message_id)
    return _no_store(
        jsonify(
            {
                "token": visitor.token,
                "message_id": recorded.message_id,
                "replies": [reply.body for reply in replies],
                "reply_ids": [reply.id for reply in replies],
            }
        )
    )


def _adopt_page_language(session: Session, recorded: Recorded, language: object) -> None:
    """The page's language ("en" on the English page) until the resident's own words say.

    A first "hello" or "STOP" does not tell the language (Chinese residents write them too), so
    the bot would answer in Chinese on an English page. Once the dialogue has detected the
    language from what the resident wrote, the page no longer decides.
    """
    if language not in LANGUAGES:
        return
    conversation = session.get(Conversation, recorded.conversation_id)
    if conversation is None or DialogueState.from_dict(conversation.state).language is not None:
        return
    conversation.language = str(language)
    contact = session.get(Contact, recorded.contact_id)
    if contact is not None:
        contact.language = str(language)


@bp.get("/api/chat")
def fetch() -> Response:
    """This browser's messages after `after`: the history, and notifications queued for it."""
    token = request.headers.get(TOKEN_HEADER) or request.args.get("token", "")
    if not token:
        raise ApiProblem(401, "token_required", f"send the conversation token ({TOKEN_HEADER})")
    visitor = read_token(str(current_app.secret_key or ""), token)
    after = _after(request.args.get("after", "0"))
    session = get_db()
    contact_id = session.scalar(
        select(Contact.id).where(
            Contact.kind == AddressKind.WEB, Contact.address == visitor.address
        )
    )
    messages = [] if contact_id is None else messages_after(session, contact_id, after)
    shown = [_shown(message) for message in messages]
    delivered = mark_delivered(session, [m.id for m in messages if _fetchable(m)])
    session.commit()
    log.debug("web chat fetched", extra={"messages": len(shown), "delivered": delivered})
    last = max([after, *(m.id for m in messages)])
    return _no_store(jsonify({"messages": shown, "last_id": last}))


def replies_to(session: Session, message_id: int) -> list[Message]:
    """The replies the bot gave to one inbound message, in order (none while unhandled).

    The shell stores a message's replies in the same transaction that marks it processed,
    stamped with the same moment; that moment ties them to it.
    """
    message = session.get(Message, message_id)
    if message is None or message.processed_at is None or message.conversation_id is None:
        return []
    return list(
        session.scalars(
            select(Message)
            .where(
                Message.conversation_id == message.conversation_id,
                Message.direction == Direction.OUTBOUND,
                Message.event_id.is_(None),
                Message.created_at == message.processed_at,
                Message.id > message.id,
                Message.status.not_in(_HIDDEN),
            )
            .order_by(Message.id)
        )
    )


def messages_after(session: Session, contact_id: int, after: int) -> list[Message]:
    """A contact's messages in and out after id `after`, oldest first (the latest page at 0)."""
    query = select(Message).where(
        Message.contact_id == contact_id,
        Message.id > after,
        Message.status.not_in(_HIDDEN),
    )
    if after == 0:
        latest = session.scalars(query.order_by(Message.id.desc()).limit(MAX_FETCHED))
        return list(reversed(list(latest)))
    return list(session.scalars(query.order_by(Message.id).limit(MAX_FETCHED)))


def mark_delivered(session: Session, message_ids: list[int]) -> int:
    """Mark outbound messages the browser has fetched as delivered (a conditional update)."""
    if not message_ids:
        return 0
    now = dt.datetime.now(dt.UTC)
    result = session.execute(
        update(Message)
        .where(
            Message.id.in_(message_ids),
            Message.direction == Direction.OUTBOUND,
            Message.status.in_(_FETCHABLE),
        )
        .values(status=MessageStatus.DELIVERED, sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    """Register the page and the API, limited per token and per address."""
    settings = app.extensions["zhitong"].settings
    for name in DEFAULT_LIMITS:  # the app's config wins (tests), else the settings
        app.config.setdefault(name, getattr(settings, name.lower()))
    app.register_blueprint(bp)
    limiter = app_limiter(app, app.extensions["zhitong"])
    limited = {
        "chat.send": ("CHAT_RATE_LIMIT_TOKEN", "CHAT_RATE_LIMIT_IP"),
        "chat.fetch": ("CHAT_POLL_RATE_LIMIT_TOKEN", "CHAT_POLL_RATE_LIMIT_IP"),
    }
    message = "too many requests from this conversation or address; wait a minute and retry"
    for endpoint, (per_token, per_ip) in limited.items():
        by_address = limiter.limit(_configured(per_ip), key_func=ip_key, error_message=message)
        by_token = limiter.limit(
            _configured(per_token),
            key_func=never_raising(token_key, _new_conversation_key),
            error_message=message,
        )
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = by_token(by_address(view))  # type: ignore[assignment]


def token_key() -> str:
    """Whom a chat request counts against per token: the token's digest, else the address.

    A body that cannot be read (too large, not UTF-8, not JSON, nested too deeply) names no
    token: it counts against the address, never escapes the limit.
    """
    token = _body_token() if request.method == "POST" else None
    token = token or request.headers.get(TOKEN_HEADER) or request.args.get("token")
    if isinstance(token, str) and token:
        return "chat-token:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:24]
    return _new_conversation_key()


def ip_key() -> str:
    """Whom a chat request counts against per address."""
    return "chat-ip:" + (request.remote_addr or "unknown")


def _new_conversation_key() -> str:
    """A request without a (readable) token counts per address, as starting a conversation."""
    return "chat-new:" + (request.remote_addr or "unknown")


def _body_token() -> object:
    """The token in a POST's body, or None when the body cannot be read."""
    try:
        body = parse_json(request.get_data(cache=True))
    except (HTTPException, ValueError):  # 413, not UTF-8, not JSON: the view answers it
        return None
    return body.get("token") if isinstance(body, dict) else None


def _configured(name: str) -> Callable[[], str]:
    return lambda: str(current_app.config.get(name, DEFAULT_LIMITS[name]))


def _visitor(token: object) -> Visitor:
    """A new conversation without a token; the token's conversation otherwise (403 if bad)."""
    secret = str(current_app.secret_key or "")
    if token is None or token == "":
        return issue_token(secret)
    if not isinstance(token, str):
        raise _bad_token()
    return read_token(secret, token)


def _check_retry(session: Session, message_id: int, text: str) -> None:
    """A known client_id is a retry only with the same text; another text is refused (409).

    Answering it with the first message's replies would drop the new text without a word.
    The comparison is with the stored body: the text as this endpoint stores it.
    """
    stored = session.scalar(select(Message.body).where(Message.id == message_id))
    if stored != storable(text)[:MAX_BODY_CHARS]:
        raise ApiProblem(
            409,
            "client_id_reused",
            "this client_id was already used for another message; send a new message with "
            "a new client_id",
        )


def _run_bot(message_id: int) -> None:
    """Handle a recorded message; a failure leaves it recorded for the retry or the sweep.

    A retried POST of a message still `received` (its first attempt failed, or is running)
    tries again: the shell takes a message once, so this never answers twice.
    """
    handle_or_count(services(), message_id, synchronous=True)


def _json_body() -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise ApiProblem(
            415, "unsupported_media_type", "send JSON (Content-Type: application/json)"
        )
    try:
        body = parse_json(request.get_data(cache=True))
    except UnicodeDecodeError:
        raise ApiProblem(400, "bad_encoding", "the body must be UTF-8") from None
    except ValueError:
        raise ApiProblem(400, "bad_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiProblem(400, "bad_json", "the body must be a JSON object")
    return body


def _text(body: dict[str, Any]) -> str:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiProblem(400, "text_required", "text is required: what you want to tell us")
    if len(text) > MAX_TEXT_CHARS:
        raise ApiProblem(
            400, "text_too_long", f"text is too long: at most {MAX_TEXT_CHARS} characters"
        )
    return text.strip()


def _client_id(body: dict[str, Any]) -> str:
    client_id = body.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise ApiProblem(
            400, "client_id_required", "client_id is required: 8–40 letters, digits, - or _"
        )
    return client_id


def _after(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise ApiProblem(400, "bad_after", "after must be a message id (a whole number)")
    return int(value)


def _shown(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "direction": message.direction.value,
        "text": message.body,
        "at": message.created_at.isoformat(),
    }


def _fetchable(message: Message) -> bool:
    return message.direction is Direction.OUTBOUND and message.status in _FETCHABLE


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _bad_token() -> ApiProblem:
    return ApiProblem(
        403, "invalid_token", "this conversation token is not valid here; start a new conversation"
    )


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()
