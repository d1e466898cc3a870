"""The case aggregate: cases, their append-only history, ratings and accountability entries."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from cases.exceptions import AppendOnlyError
from cases.models.base import Base, StrEnumType, utcnow
from cases.models.messaging import Channel


class CaseStatus(enum.StrEnum):
    """The lifecycle statuses of DESIGN.md; transitions are in `cases.lifecycle`."""

    NEW = "new"
    ACCEPTED = "accepted"  # 已受理
    DISPATCHED = "dispatched"  # 已交办
    IN_PROGRESS = "in_progress"  # 办理中
    AWAITING_MATERIALS = "awaiting_materials"  # 待补办 (clock paused)
    ESCALATED = "escalated"  # 已上报
    RESOLVED = "resolved"  # 已办结
    RATED = "rated"  # 已回访
    CLOSED = "closed"
    REOPENED = "reopened"  # 重办
    REJECTED = "rejected"  # 不予受理
    MERGED = "merged"  # duplicate of another case


class CaseKind(enum.StrEnum):
    """A proxy-handled service (便民代办) or a concern someone must act on (民情诉求)."""

    SERVICE = "service"
    CONCERN = "concern"


class HandlingKind(enum.StrEnum):
    """How the clock runs: 即办件 today, 承诺件 in N working days, urgent in N hours."""

    IMMEDIATE = "immediate"
    PROMISED = "promised"
    URGENT = "urgent"


class WarningLevel(enum.StrEnum):
    """The traffic light of a case's deadline (黄橙红)."""

    NONE = "none"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


class ActorType(enum.StrEnum):
    """Who did something to a case."""

    RESIDENT = "resident"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


# The rows the deadline sweep reads: a running clock (`cases.lifecycle.CLOCK_RUNNING`), not paused.
_SWEPT = (
    "paused_at IS NULL AND "
    "status IN ('new', 'accepted', 'dispatched', 'in_progress', 'escalated', 'reopened')"
)


class Case(Base):
    """A resident's matter, from intake to rating."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    item_code: Mapped[str] = mapped_column(String(64))
    category_code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[CaseKind] = mapped_column(StrEnumType(CaseKind))
    handling: Mapped[HandlingKind] = mapped_column(StrEnumType(HandlingKind))
    status: Mapped[CaseStatus] = mapped_column(StrEnumType(CaseStatus), default=CaseStatus.NEW)
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel))
    summary: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    town_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    created_by_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    confidence: Mapped[float | None]
    needs_review: Mapped[bool] = mapped_column(default=False)
    urgent: Mapped[bool] = mapped_column(default=False)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    warning_level: Mapped[WarningLevel] = mapped_column(
        StrEnumType(WarningLevel), default=WarningLevel.NONE
    )
    received_at: Mapped[dt.datetime]
    # The clock: due_at moves when the clock pauses (待补办) or an extension is approved;
    # yellow_at and orange_at are kept beside it so the deadline sweep is one indexed query.
    due_at: Mapped[dt.datetime | None]
    yellow_at: Mapped[dt.datetime | None]
    orange_at: Mapped[dt.datetime | None]
    paused_at: Mapped[dt.datetime | None]
    paused_seconds: Mapped[int] = mapped_column(default=0)
    extension_days: Mapped[int] = mapped_column(default=0)
    dispatched_at: Mapped[dt.datetime | None]
    signed_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    result_text: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")  # why rejected / merged / returned
    escalation_count: Mapped[int] = mapped_column(default=0)
    return_count: Mapped[int] = mapped_column(default=0)
    reopen_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Optimistic lock: an agent acting on a stale page cannot overwrite a newer change.
    version: Mapped[int] = mapped_column(default=1)

    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="save-update, merge"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        Index("ix_cases_status_warning", "status", "warning_level"),
        Index("ix_cases_due_at", "due_at"),
        # The deadline sweep's partial indexes (PostgreSQL; plain on SQLite): only the cases a
        # sweep can still move, so it reads those that change and nothing else (migration 0008).
        Index(
            "ix_cases_sweep_red",
            "due_at",
            postgresql_where=text(f"warning_level <> 'red' AND {_SWEPT}"),
        ),
        Index(
            "ix_cases_sweep_orange",
            "orange_at",
            postgresql_where=text(f"warning_level IN ('none', 'yellow') AND {_SWEPT}"),
        ),
        Index(
            "ix_cases_sweep_yellow",
            "yellow_at",
            postgresql_where=text(f"warning_level = 'none' AND {_SWEPT}"),
        ),
        Index(
            "ix_cases_unsigned",
            "dispatched_at",
            postgresql_where=text("status = 'dispatched' AND signed_at IS NULL"),
        ),
        Index("ix_cases_area_id", "area_id"),
        Index("ix_cases_town_id", "town_id"),
        Index("ix_cases_department_id", "department_id"),
        Index("ix_cases_contact_id", "contact_id"),
        Index("ix_cases_received_at", "received_at"),
        Index("ix_cases_item_code", "item_code"),
        Index("ix_cases_status_received_at", "status", "received_at", "id"),
        # Duplicate candidates: open cases of one item in one place, newest first (0007).
        Index("ix_cases_area_item_received", "area_id", "item_code", "received_at"),
        # Free-text search of the case list: trigram GIN on PostgreSQL (see migration 0004).
        Index(
            "ix_cases_summary_trgm",
            "summary",
            postgresql_using="gin",
            postgresql_ops={"summary": "gin_trgm_ops"},
        ),
        Index(
            "ix_cases_description_trgm",
            "description",
            postgresql_using="gin",
            postgresql_ops={"description": "gin_trgm_ops"},
        ),
    )


class CaseEvent(Base):
    """One thing that happened to a case. Append-only: rows are never updated or deleted."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    action: Mapped[str] = mapped_column(String(32))
    actor_type: Mapped[ActorType] = mapped_column(StrEnumType(ActorType))
    actor_id: Mapped[int | None]
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[dt.datetime]
    from_status: Mapped[CaseStatus | None] = mapped_column(StrEnumType(CaseStatus))
    to_status: Mapped[CaseStatus | None] = mapped_column(StrEnumType(CaseStatus))
    note: Mapped[str] = mapped_column(Text, default="")
    visible_to_resident: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    case: Mapped[Case] = relationship(back_populates="events")

    __table_args__ = (
        Index("ix_case_events_case_id", "case_id"),
        Index("ix_case_events_action_at", "action", "at"),
    )


class Rating(Base):
    """A resident's 好差评 answer: 1 非常满意 … 5 非常不满意."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    score: Mapped[int]
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime]

    __table_args__ = (
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        Index("ix_ratings_case_id", "case_id"),
    )


class AccountabilityEntry(Base):
    """A record that a unit answered for something: a red-light breach, a low rating, a talk."""

    __tablename__ = "accountability_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    # breach / unsigned / interview 约谈 / accountability 问责
    kind: Mapped[str] = mapped_column(String(32))
    person_name: Mapped[str] = mapped_column(String(32), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The month ("2026-10") a monthly review entry is for: one per unit, kind and month.
    period: Mapped[str | None] = mapped_column(String(7))

    __table_args__ = (
        Index("ix_accountability_department_at", "department_id", "at"),
        Index("ix_accountability_entries_case_id", "case_id"),
        UniqueConstraint("department_id", "kind", "period"),
    )


class NluCorrection(Base):
    """A case an agent reclassified: its text and both intents, kept for the next NLU training."""

    __tablename__ = "nlu_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    text: Mapped[str] = mapped_column(Text)
    old_intent: Mapped[str] = mapped_column(String(64))
    new_intent: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_nlu_corrections_created_at", "created_at"),)


class CaseNumberCounter(Base):
    """The last sequence number handed out for one day (see `cases.numbers`)."""

    __tablename__ = "case_number_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


@event.listens_for(Session, "before_flush")
def _refuse_event_changes(session: Session, _context: Any, _instances: Any) -> None:
    """Keep the history honest: case events are inserted, never modified or deleted."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, CaseEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError(f"case event {obj.id} is append-only")
