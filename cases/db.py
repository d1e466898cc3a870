"""Database engine and sessions: plain SQLAlchemy 2, shared by the web app, jobs and commands.

Nothing below the views and jobs commits; they own the transaction (`session_scope`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **options: Any) -> Engine:
    """Create an engine configured for Zhitong's two databases.

    SQLite (embedded mode) gets WAL, foreign keys and a busy timeout so the web threads and the
    in-process worker can share the file; PostgreSQL gets a pre-ping pool.

    Neither engine puts bound parameters in its error messages: they hold residents' messages,
    and exceptions are logged.
    """
    options = {"hide_parameters": True, **options}
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **options
        )
        event.listen(engine, "connect", _configure_sqlite)
        # pysqlite's own transaction handling is off (see _configure_sqlite); emit BEGIN
        # ourselves. Deferred, so readers never block the writer under WAL; lost updates are
        # prevented by the models' version columns and atomic upserts, not by locking. A
        # transaction that read and then writes after another connection committed fails at
        # once with "database is locked" (`is_transient_conflict`): callers that write after
        # reading retry the whole unit of work (`worker.shell.handle_message`).
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **options)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by the "begin" listener
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def is_transient_conflict(error: BaseException) -> bool:
    """Whether a failed unit of work may simply be run again: SQLite's "database is locked"
    (a writer was busy, or this transaction's read snapshot went stale), a PostgreSQL
    serialization failure or deadlock."""
    if not isinstance(error, OperationalError | DBAPIError):
        return False
    original = getattr(error, "orig", None)
    if isinstance(original, sqlite3.OperationalError):
        return "locked" in str(original)
    return getattr(original, "sqlstate", None) in {"40001", "40P01"}


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def check_database(engine: Engine) -> None:
    """Run a trivial query; raises the driver's error when the database is unreachable."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def insert_for(dialect: str | Session) -> Any:
    """The `insert` construct with ``ON CONFLICT`` of a dialect (or a session's): PostgreSQL's
    or SQLite's, the two databases Zhitong runs on."""
    name = dialect if isinstance(dialect, str) else dialect.get_bind().dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert
