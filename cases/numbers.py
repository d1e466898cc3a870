"""Allocation of case numbers: one atomic upsert per case, safe across processes.

The counter row for the day is incremented with `INSERT … ON CONFLICT DO UPDATE … RETURNING`,
which PostgreSQL and SQLite both run atomically: two processes creating cases at the same
instant get different numbers without a retry loop. The row stays locked until the creating
transaction ends, so numbers are handed out in commit order; a rolled-back case leaves a gap,
which is harmless.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from bot.case_numbers import format_case_number
from cases.db import insert_for
from cases.models import CaseNumberCounter


def allocate_case_number(session: Session, day: dt.date) -> str:
    """Take the next number of `day` (the county's local date of receipt)."""
    dialect = session.get_bind().dialect.name
    insert = insert_for(dialect)
    statement = (
        insert(CaseNumberCounter)
        .values(day=f"{day:%Y%m%d}", last=1)
        .on_conflict_do_update(
            index_elements=[CaseNumberCounter.day], set_={"last": CaseNumberCounter.last + 1}
        )
        .returning(CaseNumberCounter.last)
    )
    sequence = session.execute(statement).scalar_one()
    return format_case_number(day, sequence)
