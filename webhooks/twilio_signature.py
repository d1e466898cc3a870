"""Checking `X-Twilio-Signature` with the Twilio SDK's own validator.

The signature covers the URL Twilio called. Behind a reverse proxy the app sees another URL, so
the public base URL (ZHITONG_PUBLIC_URL) is used when configured; otherwise the request's own
URL, which is right when Twilio reaches the app directly or the proxy's forwarded headers are
trusted (ZHITONG_TRUSTED_PROXIES). The SDK tries the URL with and without its port.

Without a Twilio account the demo still needs signed requests: the resident simulator signs with
a local token derived from the secret key, and only in demo mode.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from flask import Request
from twilio.request_validator import RequestValidator

from cases.settings import Settings


def signing_token(settings: Settings, secret_key: str) -> str | None:
    """The auth token requests must be signed with; None when the channel is not set up."""
    if settings.twilio_auth_token:
        return settings.twilio_auth_token
    if settings.demo:
        return hmac.new(secret_key.encode(), b"zhitong-simulator", hashlib.sha256).hexdigest()
    return None


def public_request_url(request: Request, settings: Settings) -> str:
    """The URL Twilio called, as it signed it."""
    if settings.public_url:
        path = request.full_path.rstrip("?") if request.query_string else request.path
        return f"{settings.public_url}{path}"
    return request.url


def public_request_url_for(url: str, settings: Settings) -> str:
    """The URL Twilio would call for one of our own URLs (the public base replaces ours)."""
    if not settings.public_url:
        return url
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return f"{settings.public_url}{path}"


def is_valid(request: Request, settings: Settings, secret_key: str) -> bool:
    """True when the request carries a valid Twilio signature for its form fields."""
    token = signing_token(settings, secret_key)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    params: Mapping[str, str] = request.form.to_dict(flat=True)
    return bool(
        RequestValidator(token).validate(public_request_url(request, settings), params, signature)
    )


def sign(token: str, url: str, params: Mapping[str, str]) -> str:
    """The signature Twilio would send for `url` and `params` (the simulator and tests use it)."""
    return str(RequestValidator(token).compute_signature(url, dict(params)))
