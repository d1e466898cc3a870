"""Outbound senders: Twilio (SMS and WhatsApp), WeChat, and the local sender of the embedded mode.

One interface, `Sender.send(Outbound) -> SendResult`. A sender either returns the provider's id
or raises `SendError`, which says whether trying again could help (network errors, 5xx, 429)
or not (an unsubscribed or invalid number: Twilio error 21610, 21211 …; WeChat 43004, 45015 …).
Callers record the outcome on the message row; senders keep no state of their own beyond the
WeChat access token, which is cached in Redis (shared by every process) when Redis is configured.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from redis import Redis
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from bot.masking import mask_phone
from cases.models.messaging import Channel
from cases.settings import Settings
from worker.exceptions import WorkerError
from worker.wechat_template import TemplateNotice

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Outbound:
    """One message to send: an E.164 number (or WhatsApp address) and a body."""

    to: str
    body: str
    channel: Channel = Channel.SMS
    status_callback: str | None = None
    # WeChat only: the template message to send instead when the 48-hour window is closed.
    template: TemplateNotice | None = None


@dataclass(frozen=True)
class SendResult:
    """What the provider said: its id for the message and the initial status."""

    provider_id: str
    status: str


class SendError(WorkerError):
    """Sending failed; `transient` says whether a retry may succeed."""

    def __init__(self, message: str, *, transient: bool, code: str = "") -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


class Sender(Protocol):
    """Anything that can send an outbound message."""

    name: str

    def send(self, message: Outbound) -> SendResult:
        """Send one message or raise SendError."""
        ...


class LocalSender:
    """The embedded mode's sender: nothing leaves the machine.

    The message row in the database is the record; the resident simulator shows it, and the
    log says (masked) that it was "sent".
    """

    name = "local"

    def send(self, message: Outbound) -> SendResult:
        """Accept the message at once with a local id."""
        provider_id = f"LOCAL{uuid.uuid4().hex}"
        log.info(
            "local sender accepted a message",
            extra={
                "to": mask_phone(message.to),
                "channel": message.channel.value,
                "chars": len(message.body),
            },
        )
        return SendResult(provider_id, "sent")


class TwilioSender:
    """Sends SMS and WhatsApp messages through Twilio's REST API with the official SDK."""

    name = "twilio"

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.from_number = settings.twilio_from
        self.client = client or Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            http_client=TwilioHttpClient(timeout=SEND_TIMEOUT_SECONDS),
        )
        if settings.twilio_api_base:
            self.client.api.base_url = settings.twilio_api_base

    def send(self, message: Outbound) -> SendResult:
        """Create the message at Twilio; map its errors to transient or permanent."""
        whatsapp = message.channel is Channel.WHATSAPP
        to = (
            f"whatsapp:{message.to}"
            if whatsapp and not message.to.startswith("whatsapp:")
            else message.to
        )
        sender = f"whatsapp:{self.from_number}" if whatsapp else self.from_number
        try:
            created = self.client.messages.create(
                to=to, from_=sender, body=message.body, status_callback=message.status_callback
            )
        except TwilioRestException as exc:
            transient = exc.status >= 500 or exc.status == 429
            raise SendError(
                f"Twilio refused the message ({exc.status}, code {exc.code})",
                transient=transient,
                code=str(exc.code or exc.status),
            ) from exc
        except requests.RequestException as exc:
            raise SendError(
                f"Twilio unreachable: {type(exc).__name__}", transient=True, code="network"
            ) from exc
        return SendResult(str(created.sid), str(created.status or "queued"))


WECHAT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"
# Customer-service messages reach a follower only within 48 hours of their last message.
WECHAT_WINDOW_CLOSED = 45015
# An access token that went stale (another process fetched a new one, or it expired early).
_WECHAT_STALE_TOKEN = frozenset({40001, 40014, 42001})
# WeChat errcodes another attempt may cure: system busy, API rate limits, a stale token.
_WECHAT_TRANSIENT = frozenset({-1, 45009, 45011}) | _WECHAT_STALE_TOKEN


class _WeChatApiClient(WeChatClient):
    """wechatpy's client with the whole API base configurable, the token endpoint included."""

    def __init__(
        self, app_id: str, secret: str, api_base: str, session: SessionStorage, timeout: int
    ) -> None:
        # wechatpy's own retry on a stale token has no bound; WeChatSender retries once.
        super().__init__(app_id, secret, session=session, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base
        self._http = _TimeoutSession(timeout)

    def fetch_access_token(self) -> dict[str, object]:
        """Fetch a token from the configured base (wechatpy hard-codes WeChat's own host)."""
        result: dict[str, object] = self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )
        return result


class _TimeoutSession(requests.Session):
    """A requests session that never waits forever (wechatpy's token fetch sets no timeout)."""

    def __init__(self, timeout: int) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send as requests does, with this session's timeout unless the caller gave one."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class WeChatSender:
    """Sends text to an official account's followers through the customer-service message API.

    The address is the follower's openid. WeChat allows these messages within 48 hours of the
    follower's last message (45015 afterwards) and only to followers (43004 once they leave);
    both are permanent failures.
    """

    name = "wechat"

    def __init__(
        self, settings: Settings, redis: Redis | None = None, client: WeChatClient | None = None
    ) -> None:
        storage: SessionStorage = (
            RedisStorage(redis, prefix="zhitong:wechat") if redis is not None else MemoryStorage()
        )
        base = f"{settings.wechat_api_base}/cgi-bin/" if settings.wechat_api_base else None
        self.client = client or _WeChatApiClient(
            settings.wechat_app_id,
            settings.wechat_app_secret,
            base or WECHAT_API_BASE,
            storage,
            SEND_TIMEOUT_SECONDS,
        )

    def send(self, message: Outbound) -> SendResult:
        """Send the text; map WeChat's errcodes to transient or permanent failures.

        Outside the 48-hour window (45015) a message that carries a template notice goes as
        that template message instead. Texts longer than WeChat takes were cut into parts
        before (`worker.long_messages`).
        """
        try:
            answer = self._call(lambda: self.client.message.send_text(message.to, message.body))
        except WeChatClientException as exc:
            if exc.errcode == WECHAT_WINDOW_CLOSED and message.template is not None:
                return self._send_template(message.to, message.template)
            raise self._send_error(exc) from exc
        except requests.RequestException as exc:
            raise _unreachable(exc) from exc
        # Prefixed so that an outbound id can never collide with an inbound MsgId.
        return SendResult(f"cs:{_msgid(answer)}", "sent")

    def _send_template(self, openid: str, notice: TemplateNotice) -> SendResult:
        """The template message for a follower the window closed on.

        A permanent refusal (the template was deleted, the follower blocked template messages)
        is reported as the closed window (45015), so the follower is still reached by SMS when
        they gave a number; the error message keeps the template's own errcode.
        """
        try:
            answer = self._call(
                lambda: self.client.message.send_template(openid, notice.template_id, notice.data())
            )
        except WeChatClientException as exc:
            error = self._send_error(exc)
            if error.transient:
                raise error from exc
            raise SendError(
                f"WeChat's 48-hour window is closed and the template message was refused "
                f"(errcode {error.code})",
                transient=False,
                code=str(WECHAT_WINDOW_CLOSED),
            ) from exc
        except requests.RequestException as exc:
            raise _unreachable(exc) from exc
        return SendResult(f"tpl:{_msgid(answer)}", "sent")

    def _call(self, request: Callable[[], Any]) -> Any:
        """Make an API call; when the token was stale (refused before anything was sent), fetch a
        fresh one and call once more."""
        try:
            return request()
        except WeChatClientException as exc:
            if exc.errcode not in _WECHAT_STALE_TOKEN:
                raise
            self.client.session.delete(self.client.access_token_key)
            return request()

    def _send_error(self, exc: WeChatClientException) -> SendError:
        if exc.errcode is None:  # an HTTP error, not an answer from WeChat's API
            status = exc.response.status_code if exc.response is not None else 0
            transient = status == 0 or status >= 500 or status == 429
            return SendError(
                f"WeChat API answered HTTP {status or 'nothing'}",
                transient=transient,
                code=str(status or "http"),
            )
        code = int(exc.errcode)
        if code in _WECHAT_STALE_TOKEN:  # let the next attempt fetch a fresh token
            self.client.session.delete(self.client.access_token_key)
        return SendError(
            f"WeChat refused the message (errcode {code})",
            transient=code in _WECHAT_TRANSIENT,
            code=str(code),
        )


def _msgid(answer: object) -> str:
    msgid = answer.get("msgid") if isinstance(answer, dict) else None
    return str(msgid or uuid.uuid4().hex)


def _unreachable(exc: requests.RequestException) -> SendError:
    return SendError(f"WeChat unreachable: {type(exc).__name__}", transient=True, code="network")


def make_sender(
    settings: Settings, channel: Channel = Channel.SMS, redis: Redis | None = None
) -> Sender:
    """The sender for a channel: WeChat's for WeChat (when an official account is configured),
    Twilio for the others (when an account is configured), else the local sender.

    Args:
        settings: the process's settings.
        channel: the channel the messages go out on.
        redis: where the WeChat access token is cached (memory when None).
    """
    if channel is Channel.WECHAT:
        return WeChatSender(settings, redis) if settings.uses_wechat else LocalSender()
    return TwilioSender(settings) if settings.uses_twilio else LocalSender()
