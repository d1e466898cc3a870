"""Alembic environment: the connection comes from `cases.migrate`, never from a config file."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import JSON

from cases.models import Base
from cases.models.base import StrEnumType, UTCDateTime


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write the project's column types as plain SQLAlchemy types, so migrations stand alone."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, StrEnumType):
        return f"sa.String(length={obj.impl.length})"  # type: ignore[attr-defined]
    if isinstance(obj, JSON):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def run_migrations() -> None:
    """Run migrations on the connection handed in through `config.attributes`."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
