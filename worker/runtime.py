"""The process's connections: database, queue, clock — built once, shared by jobs and views.

A web process builds them in `create_app`; a worker process builds them on the first job from
the environment's settings. In embedded mode the web process hands its own to the in-process
worker (`install`), so jobs use the same SQLite engine and the same in-memory queue.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cases.calendar import make_calendar
from cases.clock import Clock, OfficeHours
from cases.db import make_engine, make_session_factory
from cases.settings import Settings, get_settings
from worker.queue import redis_connection


@dataclass
class Services:
    """What a request, job or command needs from the outside world."""

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


_current: Services | None = None
_lock = threading.Lock()


def install(services: Services) -> None:
    """Make `services` the ones jobs in this process use."""
    global _current
    with _lock:
        _current = services


def installed() -> Services | None:
    """The services installed in this process, if any (never builds them)."""
    with _lock:
        return _current


def current() -> Services:
    """The process's services, built from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = build_services(get_settings())
        return _current
