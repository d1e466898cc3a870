"""Alembic migrations: one head, a full round trip on both databases, schema equal to models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from cases import migrate
from cases.db import make_engine
from cases.models import Base

MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database of its own that has never been migrated (dropped afterwards)."""
    if request.param == "sqlite":
        created = make_engine(f"sqlite:///{tmp_path / 'migrations.sqlite3'}")
        yield created
        created.dispose()
        return
    # A sibling of the session's PostgreSQL database, on the same server.
    server = make_url(request.getfixturevalue("postgres_url"))
    name = f"zhitong_migrations_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    created = make_engine(server.set(database=name).render_as_string(hide_password=False))
    try:
        yield created
    finally:
        created.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def tables(engine: Engine) -> set[str]:
    """The tables that exist in the database."""
    return set(inspect(engine).get_table_names())


def test_exactly_one_head() -> None:
    """The migration scripts have a single head (no unmerged branches)."""
    assert len(migrate.heads()) == 1


def test_upgrade_downgrade_upgrade(empty_engine: Engine) -> None:
    """Upgrade creates every table, downgrade to base removes them, upgrade works again."""
    (head,) = migrate.heads()
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == head
    assert tables(empty_engine) == MODEL_TABLES | {"alembic_version"}
    migrate.downgrade(empty_engine, "base")
    assert migrate.current_revision(empty_engine) is None
    assert tables(empty_engine) - {"alembic_version"} == set()
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == head
    assert tables(empty_engine) == MODEL_TABLES | {"alembic_version"}


def test_upgrade_twice_changes_nothing(empty_engine: Engine) -> None:
    """Running `zhitong db upgrade` on an up-to-date database is harmless."""
    migrate.upgrade(empty_engine)
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.heads()[0]


def test_migrated_schema_matches_models(engine: Engine) -> None:
    """Autogenerate finds no difference between the migrated database and the models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
