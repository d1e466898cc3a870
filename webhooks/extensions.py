"""Per-app resources: database engine and sessions, queue connection, deadline clock.

Held in `app.extensions["zhitong"]`; views reach them through `get_db()` and `services()`.
"""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from worker import notify, outbox  # noqa: F401  (session hooks: notifications, deliveries)
from worker.runtime import Services, build_services, install

__all__ = ["Services", "build_services", "close_db", "get_db", "init_app", "services"]


def init_app(app: Flask, services: Services) -> None:
    """Attach the services to the app and close each request's session at teardown."""
    app.extensions["zhitong"] = services
    install(services)
    app.teardown_appcontext(close_db)


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["zhitong"]


def get_db() -> Session:
    """The request's database session, opened on first use."""
    if "db" not in g:
        g.db = services().sessions()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    """Close the request's session; an uncommitted transaction is rolled back."""
    session = g.pop("db", None)
    if session is not None:
        session.close()
