"""Fixtures shared by the whole suite: settings → engine → session → app → client.

Storage tests run on SQLite and on the real PostgreSQL; queue tests on the real Redis. When a
server is unreachable the tests that need it are skipped with the reason — except under CI
(CI=true), where that is a failure, so a green CI run always means the real servers were used.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cases import migrate
from cases.calendar import make_calendar
from cases.clock import Clock, OfficeHours
from cases.db import make_engine, make_session_factory
from cases.demo import load_demo_county
from cases.models import Base
from cases.settings import Settings, load_settings

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "ZHITONG_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test"
)
REDIS_TEST_BASE_URL = os.environ.get("ZHITONG_TEST_REDIS_URL", "redis://127.0.0.1:6379")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def require_server(name: str, error: BaseException) -> None:
    """Skip a test whose server is missing — or fail it under CI, where servers are a must."""
    message = f"{name} unreachable ({type(error).__name__}: {error}); start it or see README"
    if IN_CI:
        pytest.fail(f"CI requires the real {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    name = f"zhitong_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        require_server("PostgreSQL", exc)
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    if url in _MIGRATED:
        _MIGRATED.pop(url).dispose()  # close pooled connections before the database goes
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file for this test session."""
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'zhitong.sqlite3'}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each storage test runs once per database."""
    fixture = "postgres_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


# Engines already migrated, one per URL, shared by the whole session.
_MIGRATED: dict[str, Engine] = {}


@pytest.fixture(scope="session")
def migrated_engines() -> Iterator[dict[str, Engine]]:
    """The session's migrated engines; closed at its end."""
    yield _MIGRATED
    for created in _MIGRATED.values():
        created.dispose()


@pytest.fixture
def engine(database_url: str, migrated_engines: dict[str, Engine]) -> Iterator[Engine]:
    """A migrated engine; every table is emptied after the test."""
    if database_url not in migrated_engines:
        created = make_engine(database_url)
        migrate.upgrade(created)
        migrated_engines[database_url] = created
    current = migrated_engines[database_url]
    yield current
    empty_tables(current)


def empty_tables(engine: Engine) -> None:
    """Delete every row (keeping the schema), children first."""
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the test database; the test decides when to commit."""
    factory = make_session_factory(engine)
    with factory() as opened:
        yield opened


@pytest.fixture
def demo_session(session: Session) -> Session:
    """A session on a database holding the demo county."""
    load_demo_county(session)
    session.commit()
    return session


@pytest.fixture(scope="session")
def clock() -> Clock:
    """The deadline clock with the official calendar and 08:30–17:30 office hours."""
    return Clock(make_calendar(), OfficeHours.parse("08:30", "17:30", SHANGHAI))


def local(*parts: int) -> dt.datetime:
    """An aware datetime in the county's zone: local(2026, 9, 30, 10, 0)."""
    return dt.datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-mode settings in a private instance folder."""
    return load_settings(
        instance_path=tmp_path / "instance", secret_key="test-secret", log_format="text"
    )


@pytest.fixture
def redis_url(worker_id: str) -> Iterator[str]:
    """The real Redis (a database per xdist worker), emptied before and after the test."""
    index = 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))
    url = f"{REDIS_TEST_BASE_URL}/{10 + index}"
    connection = Redis.from_url(url, socket_connect_timeout=2)
    try:
        connection.flushdb()
    except RedisError as exc:
        require_server("Redis", exc)
    yield url
    connection.flushdb()
    connection.close()
