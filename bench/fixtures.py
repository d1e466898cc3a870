"""Throw-away databases for benchmarks: a SQLite file or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from cases import migrate
from cases.db import make_engine, make_session_factory, session_scope
from cases.demo import load_demo_county

POSTGRES_ADMIN_URL = os.environ.get(
    "ZHITONG_BENCH_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test"
)


def scale(default: int) -> int:
    """A benchmark size, scaled by ZHITONG_BENCH_SCALE (tests run benchmarks tiny)."""
    return max(1, int(default * float(os.environ.get("ZHITONG_BENCH_SCALE", "1"))))


@contextmanager
def demo_database(kind: str) -> Iterator[Engine]:
    """A migrated database of `kind` ("sqlite" or "postgresql") holding the demo county."""
    with _database(kind) as url:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            with session_scope(make_session_factory(engine)) as session:
                load_demo_county(session)
            yield engine
        finally:
            engine.dispose()


@contextmanager
def _database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        return
    name = f"zhitong_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
