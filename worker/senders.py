"""Outbound senders: Twilio (SMS and WhatsApp) and the local sender of the embedded mode.

One interface, `Sender.send(Outbound) -> SendResult`. A sender either returns the provider's id
or raises `SendError`, which says whether trying again could help (network errors, 5xx, 429)
or not (an unsubscribed or invalid number: Twilio error 21610, 21211 …). Callers record the
outcome on the message row; senders keep no state of their own.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bot.masking import mask_phone
from cases.models.messaging import Channel
from cases.settings import Settings
from worker.exceptions import WorkerError

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Outbound:
    """One message to send: an E.164 number (or WhatsApp address) and a body."""

    to: str
    body: str
    channel: Channel = Channel.SMS
    status_callback: str | None = None


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


def make_sender(settings: Settings) -> Sender:
    """Twilio when an account is configured, else the local sender."""
    return TwilioSender(settings) if settings.uses_twilio else LocalSender()
