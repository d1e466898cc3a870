"""resident notifications and 好差评 surveys

An event may now carry more than one message to the same resident: the notification itself,
the 好差评 survey after 办结 and its one reminder (`messages.purpose`); the unique constraint
that keeps each of them to one per event and contact grows by that column. Monthly review
entries (约谈, 问责) name their month (`accountability_entries.period`), unique per unit and
kind, so a second run of the review writes nothing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=16), server_default="", nullable=False)
        )
        batch_op.drop_constraint("uq_messages_event_id_contact_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_messages_event_id_contact_id_purpose", ["event_id", "contact_id", "purpose"]
        )
    with op.batch_alter_table("accountability_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period", sa.String(length=7), nullable=True))
        batch_op.create_unique_constraint(
            "uq_accountability_entries_department_id_kind_period",
            ["department_id", "kind", "period"],
        )


def downgrade() -> None:
    with op.batch_alter_table("accountability_entries", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_accountability_entries_department_id_kind_period", type_="unique"
        )
        batch_op.drop_column("period")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("uq_messages_event_id_contact_id_purpose", type_="unique")
        batch_op.create_unique_constraint(
            "uq_messages_event_id_contact_id", ["event_id", "contact_id"]
        )
        batch_op.drop_column("purpose")
