"""Per-app resources: database engine and sessions, queue connection, deadline clock.

Held in `app.extensions["zhitong"]`; views reach them through `get_db()` and `services()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cases.calendar import make_calendar
from cases.clock import Clock, OfficeHours
from cases.db import make_engine, make_session_factory
from cases.settings import Settings
from worker.queue import redis_connection


@dataclass
class Services:
    """What a request or command needs from the outside world, built once per app."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: Redis
    clock: Clock

    def close(self) -> None:
        """Release pooled database and Redis connections (end of a command or test)."""
        self.engine.dispose()
        self.redis.close()


def build_services(settings: Settings) -> Services:
    """Create the engine, session factory, queue connection and clock for these settings."""
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    clock = Clock(
        make_calendar(settings.holidays_file),
        OfficeHours.parse(settings.workday_start, settings.workday_end, settings.zone),
    )
    return Services(
        settings, engine, make_session_factory(engine), redis_connection(settings), clock
    )


def init_app(app: Flask, services: Services) -> None:
    """Attach the services to the app and close each request's session at teardown."""
    app.extensions["zhitong"] = services
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
