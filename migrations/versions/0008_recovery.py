"""recovery sweep and deadline-sweep partial indexes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The deadline sweep's partial indexes (PostgreSQL) hold only the cases a sweep can still move,
# so a sweep reads the cases that change and nothing else. SQLite ignores `postgresql_where` and
# gets a plain index of the same name, so the migrated schema matches the models on both.
# They replace ix_cases_yellow_at and ix_cases_orange_at, which only the sweep used.
RUNNING = "status IN ('new', 'accepted', 'dispatched', 'in_progress', 'escalated', 'reopened')"
SWEEP = f"paused_at IS NULL AND {RUNNING}"
PARTIAL = {
    "ix_cases_sweep_red": ("due_at", f"warning_level <> 'red' AND {SWEEP}"),
    "ix_cases_sweep_orange": ("orange_at", f"warning_level IN ('none', 'yellow') AND {SWEEP}"),
    "ix_cases_sweep_yellow": ("yellow_at", f"warning_level = 'none' AND {SWEEP}"),
    "ix_cases_unsigned": ("dispatched_at", "status = 'dispatched' AND signed_at IS NULL"),
}


def upgrade() -> None:
    # When a delivery claimed the message (queued → sending): a `sending` row older than the
    # delivery job's timeout belongs to a worker that died mid-send.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_yellow_at")
        batch_op.drop_index("ix_cases_orange_at")
        for name, (column, where) in PARTIAL.items():
            batch_op.create_index(name, [column], unique=False, postgresql_where=sa.text(where))
    # The breach and unsigned checks look for a case's accountability entries.
    with op.batch_alter_table("accountability_entries", schema=None) as batch_op:
        batch_op.create_index("ix_accountability_entries_case_id", ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("accountability_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_accountability_entries_case_id")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name in reversed(PARTIAL):
            batch_op.drop_index(name)
        batch_op.create_index("ix_cases_orange_at", ["orange_at"], unique=False)
        batch_op.create_index("ix_cases_yellow_at", ["yellow_at"], unique=False)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
