"""The REST API for integrations: `/api/…`, with its OpenAPI document at /api/openapi.json."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("api", __name__, url_prefix="/api")


def init_app(app: Flask) -> None:
    """Register the API: routes, JSON errors (also for unknown paths), per-token rate limits."""
    from webhooks.api import errors, views
    from webhooks.api.ratelimit import app_limiter, limit_blueprint

    limit_blueprint(app_limiter(app, app.extensions["zhitong"]), bp)
    errors.init_app(app, "/api/", errors.json_error)
    app.register_blueprint(views.bp)
