"""Token authentication for the machine interfaces: `Authorization: Bearer zt_…`.

Open311 clients send the same secret as the `api_key` parameter, as the GeoReport spec says.
"""

from __future__ import annotations

from flask import g, request
from werkzeug.exceptions import HTTPException

from cases.api_tokens import authenticate, hash_secret, require_scope
from cases.exceptions import InvalidTokenError
from cases.models import ApiToken
from webhooks.api import context
from webhooks.extensions import get_db


def presented_secret() -> str:
    """The token the client sent: bearer header first, then an `api_key` parameter."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    # The first non-empty one: `?api_key=&api_key=zt_…` must not hide a bad key.
    keys = request.args.getlist("api_key")
    if request.mimetype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        keys += request.form.getlist("api_key")
    return next((key for key in keys if key), "")


def current_token(scope: str | None = None) -> ApiToken:
    """The request's token (checked once per request), holding `scope` when one is named.

    Raises:
        InvalidTokenError: no token, or a bad one.
        PermissionDeniedError: the token lacks `scope`.
    """
    if "api_token" not in g:
        secret = presented_secret()
        if not secret:
            raise InvalidTokenError("an API token is required (Authorization: Bearer zt_…)")
        g.api_token = authenticate(get_db(), secret, context.now())
    token: ApiToken = g.api_token
    if scope is not None:
        require_scope(token, scope)
    return token


def optional_token() -> ApiToken | None:
    """The request's token when one was sent (a bad one is still refused), else None."""
    return current_token() if presented_secret() else None


def rate_key() -> str:
    """Whom a request counts against: its token (hashed), else its address.

    A form body that cannot be read (over the size limit) names no token: the request counts
    against its address, and the view answers the error.
    """
    try:
        secret = presented_secret()
    except HTTPException:
        secret = ""
    if secret:
        return "token:" + hash_secret(secret)[:24]
    return "addr:" + (request.remote_addr or "unknown")
