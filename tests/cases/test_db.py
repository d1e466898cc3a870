"""Tests for cases.db: lock conflicts on the embedded SQLite file, and quiet errors."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from cases.db import is_transient_conflict, make_engine
from worker import shell


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    """A file database as embedded mode makes it, with one counter row."""
    engine = make_engine(f"sqlite:///{tmp_path / 'zhitong.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)"))
        connection.execute(text("INSERT INTO counter VALUES (1, 0)"))
    return engine


def test_a_stale_read_then_write_is_a_transient_conflict(sqlite_engine: Engine) -> None:
    """One transaction reads, another commits a write meanwhile, the first then writes: SQLite
    refuses at once with "database is locked", which `is_transient_conflict` recognises so the
    unit of work can be run again (worker.shell.handle_message does)."""
    read_done, written = threading.Event(), threading.Event()
    caught: list[BaseException] = []

    def reader_then_writer() -> None:
        try:
            with sqlite_engine.begin() as connection:
                connection.execute(text("SELECT value FROM counter")).scalar_one()
                read_done.set()
                written.wait(5)
                connection.execute(text("UPDATE counter SET value = value + 1"))
        except OperationalError as exc:
            caught.append(exc)

    def other_writer() -> None:
        read_done.wait(5)
        with sqlite_engine.begin() as connection:
            connection.execute(text("UPDATE counter SET value = value + 10"))
        written.set()

    threads = [threading.Thread(target=reader_then_writer), threading.Thread(target=other_writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(caught) == 1 and is_transient_conflict(caught[0])
    assert not is_transient_conflict(ValueError("locked"))


def test_the_bot_runs_a_message_again_after_a_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lock conflict while handling a message is retried, not logged as a failure: before,
    the resident got no answer and the reply came minutes later from the recovery sweep."""
    calls: list[int] = []
    locked = OperationalError("UPDATE …", {}, sqlite3.OperationalError("database is locked"))

    def flaky(*args: object, **kwargs: object) -> shell.Handled:
        calls.append(1)
        if len(calls) == 1:
            raise locked
        return shell.Handled(("好的",))

    monkeypatch.setattr(shell, "_handle", flaky)
    monkeypatch.setattr(shell, "LOCK_RETRY_SECONDS", 0)
    services = SimpleNamespace(sessions=lambda: _NullSession(), redis=None)
    handled = shell.handle_message(services, 1, synchronous=True)  # type: ignore[arg-type]
    assert handled.replies == ("好的",) and len(calls) == 2


class _NullSession:
    """A session that commits and closes without a database (the handling is faked)."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


def test_errors_never_carry_the_bound_values(sqlite_engine: Engine) -> None:
    """A failing statement's error names the statement, not the resident's text in it."""
    with pytest.raises(IntegrityError) as caught, sqlite_engine.begin() as connection:
        connection.execute(
            text("INSERT INTO counter VALUES (:id, :value)"),
            {"id": 1, "value": "我叫李大明，身份证350102198805051234"},
        )
    assert "350102198805051234" not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)
