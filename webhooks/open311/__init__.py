"""Open311 GeoReport v2 at /open311/v2/…, in JSON and XML (`.json` / `.xml` suffixes)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")


def init_app(app: Flask) -> None:
    """Register the Open311 endpoints with their error format and per-key rate limits."""
    from webhooks.api import errors
    from webhooks.api.ratelimit import app_limiter, limit_blueprint
    from webhooks.open311 import formats, views

    limit_blueprint(app_limiter(app, app.extensions["zhitong"]), bp)
    errors.init_app(app, "/open311/", formats.render_problem)
    app.register_blueprint(views.bp)
