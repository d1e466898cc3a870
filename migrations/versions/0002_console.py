"""console: reclassification examples for NLU training, indexes for the agent console

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 21:27:56.511008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nlu_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("old_intent", sa.String(length=64), nullable=False),
        sa.Column("new_intent", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_nlu_corrections_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_nlu_corrections_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nlu_corrections")),
    )
    with op.batch_alter_table("nlu_corrections", schema=None) as batch_op:
        batch_op.create_index("ix_nlu_corrections_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("nlu_corrections", schema=None) as batch_op:
        batch_op.drop_index("ix_nlu_corrections_created_at")
    op.drop_table("nlu_corrections")
