"""Rate limits per token for the machine interfaces (Flask-Limiter).

Embedded mode counts in memory; with ZHITONG_REDIS_URL the counts live in Redis, shared by every
web process. The REST API and Open311 share one Limiter per app, beside the console's login
limiter (which limits by address, not by token).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import Blueprint, Flask, current_app, request
from flask_limiter import Limiter

from webhooks.api.auth import rate_key
from webhooks.extensions import Services

log = logging.getLogger(__name__)
DEFAULT_RATE_LIMIT = "120 per minute"
_MARK = "_zhitong_limited_blueprints"
_LIMITER = "zhitong_api_limiter"


def storage_uri(services: Services) -> str:
    """Where the limiter counts: Redis when configured, else this process's memory."""
    url = services.settings.redis_url
    if not url:
        return "memory://"
    return "redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else url


def app_limiter(app: Flask, services: Services) -> Limiter:
    """The app's Limiter for the machine interfaces: made once per app, on the right storage."""
    existing = app.extensions.get(_LIMITER)
    if existing is None:
        existing = Limiter(
            never_raising(rate_key),
            app=app,
            storage_uri=storage_uri(services),
            strategy="moving-window",
            headers_enabled=True,
            key_prefix="zhitong-api",
            default_limits=[],
            # Redis down must not take the API and web chat down with it: count in this
            # process's memory until Redis is back, and never answer a 500 for the limiter.
            in_memory_fallback_enabled=True,
            swallow_errors=True,
        )
        app.extensions[_LIMITER] = existing
    return existing


def limit_blueprint(limiter: Limiter, blueprint: Blueprint) -> None:
    """Limit every route of `blueprint` per token (once per limiter)."""
    done: set[str] = getattr(limiter, _MARK, set())
    if blueprint.name in done:
        return
    limiter.limit(_api_rate_limit, key_func=never_raising(rate_key))(blueprint)
    setattr(limiter, _MARK, done | {blueprint.name})


def never_raising(
    key_func: Callable[[], str], fallback: Callable[[], str] | None = None
) -> Callable[[], str]:
    """`key_func` for a limit, answering `fallback` (the address) instead of raising.

    The limiter swallows its own errors so that a Redis outage cannot take the API down; a
    key function that raises would then let its request through *unlimited*. The key functions
    avoid the failures they know of (an unreadable body names no token), and this is the one
    place that catches the rest: whatever a request makes them raise, it is counted against
    its address.
    """

    @functools.wraps(key_func)
    def key() -> str:
        try:
            return key_func()
        except Exception:  # the limiter's boundary: anything here would switch the limit off
            log.warning("rate-limit key failed; counting by address", exc_info=True)
            return (fallback or address_key)()

    return key


def address_key() -> str:
    """Whom a request counts against when nothing better is known: its address."""
    return "addr:" + (request.remote_addr or "unknown")


def _api_rate_limit() -> str:
    return str(current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT))
