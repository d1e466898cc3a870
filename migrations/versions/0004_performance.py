"""performance: indexes for the agent console's case list, work queues and text search

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Trigram indexes serve the case list's free-text search (ILIKE '%…%') on PostgreSQL. SQLite
# ignores the PostgreSQL options and gets a plain index of the same name, so the migrated
# schema matches the models on both databases.
TRIGRAM = {"postgresql_using": "gin"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Trusted since PostgreSQL 13: a database owner may create it without a superuser.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_status_received_at", ["status", "received_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_cases_summary_trgm",
            ["summary"],
            unique=False,
            postgresql_ops={"summary": "gin_trgm_ops"},
            **TRIGRAM,
        )
        batch_op.create_index(
            "ix_cases_description_trgm",
            ["description"],
            unique=False,
            postgresql_ops={"description": "gin_trgm_ops"},
            **TRIGRAM,
        )


def downgrade() -> None:
    # pg_trgm stays: other database objects may have come to rely on it.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_description_trgm")
        batch_op.drop_index("ix_cases_summary_trgm")
        batch_op.drop_index("ix_cases_status_received_at")
