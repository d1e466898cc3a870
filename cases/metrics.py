"""The county's performance figures, computed from events: the dashboard and the monthly report.

Every figure is a set-based query over `cases`, `case_events` and `ratings`; nothing loops over
cases in Python. The definitions (the practice's 办结率, 一次办结率, 满意率 of DESIGN.md):

- **cohort**: the cases *received* in the period ``[start, end)`` (by ``received_at``), inside
  the area when one is given (the case's place or its town lies in the area), inside the
  agent's scope when one is given, and not merged into another case (a duplicate is counted
  once, as the case that survives).
- **received** (受理量): cases in the cohort.
- **accepted** (已受理): cohort cases with an ``accept`` event and no ``reject`` event. Cases
  still awaiting review and cases rejected (不予受理) are not accepted.
- **resolved** (已办结): cohort cases whose latest ``resolve`` event is later than their latest
  ``reopen`` event (or that were never reopened). A case reopened after a dissatisfied rating
  counts again only once it is resolved again.
- **办结率 resolution rate** = resolved / accepted.
- **按时办结率 on-time rate** = resolved cases whose latest ``resolve`` is at or before the
  case's deadline ``due_at`` (moved by 待补办 pauses and approved extensions; a reopened case is
  held to its new promise) / resolved. Cases without a deadline count as on time.
- **一次办结率 first-time resolution rate** = resolved cases with no ``return`` (退单),
  ``reopen`` (重办) or ``escalate`` (上报) event / resolved.
- **满意率 satisfaction rate** = ratings of cohort cases with a score of 1–3 (非常满意, 满意,
  基本满意) / all ratings of cohort cases. 一事一评价: every rating counts, also a second one
  after a reopen.
- **回访率 callback rate** = resolved cases with at least one rating / resolved.
- **open by colour**: cases open *now* (any open status) by warning level; not tied to the
  period, since it shows the work at hand.
- **unit league**: the same counts per owning unit (``department_id``, the unit that holds the
  case now), with the 80 % satisfaction line of the practice (满意率 < 80 % → 约谈).

A rate whose denominator is zero is None (shown as "—"), never 0 % or 100 %. Events and ratings
are counted up to ``as_of`` when given (a report re-run later gives the same figures), or all of
them when not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session

from cases.lifecycle import OPEN_STATUSES
from cases.models import Area, Case, CaseEvent, Department, Rating
from cases.models.cases import CaseStatus, WarningLevel

# Scores 1–3 (非常满意, 满意, 基本满意) count as satisfied; 4 and 5 reopen the case.
SATISFIED_MAX_SCORE = 3
# Below this satisfaction rate a unit's head is called in for a talk (约谈).
SATISFACTION_LINE = 0.8
# Events that mean the case was not done right the first time.
SETBACK_ACTIONS = ("return", "reopen", "escalate")

Dimension = Literal["channel", "category", "item", "town", "unit", "day"]


@dataclass(frozen=True)
class Period:
    """Cases received from `start` (inclusive) to `end` (exclusive); both aware."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def month(cls, year: int, month: int, zone: ZoneInfo) -> Period:
        """A calendar month in the county's time zone."""
        start = dt.datetime(year, month, 1, tzinfo=zone)
        following = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
        return cls(start, following)

    @classmethod
    def days(cls, first: dt.date, last: dt.date, zone: ZoneInfo) -> Period:
        """Whole local days from `first` to `last`, both included."""
        start = dt.datetime.combine(first, dt.time(), zone)
        return cls(start, dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone))


@dataclass(frozen=True)
class Counts:
    """The counts every rate is made of, for the whole cohort or one unit."""

    received: int = 0
    accepted: int = 0
    resolved: int = 0
    on_time: int = 0
    first_time: int = 0
    rated: int = 0  # resolved cases with at least one rating
    ratings: int = 0
    satisfied: int = 0  # ratings with score <= SATISFIED_MAX_SCORE

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def resolution_rate(self) -> float | None:
        """办结率: resolved / accepted."""
        return _rate(self.resolved, self.accepted)

    @property
    def on_time_rate(self) -> float | None:
        """按时办结率: resolved by the deadline / resolved."""
        return _rate(self.on_time, self.resolved)

    @property
    def first_time_rate(self) -> float | None:
        """一次办结率: resolved without return, reopen or escalation / resolved."""
        return _rate(self.first_time, self.resolved)

    @property
    def satisfaction_rate(self) -> float | None:
        """满意率: satisfied ratings / ratings."""
        return _rate(self.satisfied, self.ratings)

    @property
    def callback_rate(self) -> float | None:
        """回访率: rated resolved cases / resolved."""
        return _rate(self.rated, self.resolved)


@dataclass(frozen=True)
class UnitRow:
    """One line of the unit league table."""

    department_id: int | None
    name: str
    counts: Counts

    @property
    def below_line(self) -> bool:
        """True when the unit's satisfaction is under the 80 % line (约谈)."""
        rate = self.counts.satisfaction_rate
        return rate is not None and rate < SATISFACTION_LINE


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows, for one period and area."""

    period: Period
    totals: Counts
    open_by_colour: dict[WarningLevel, int]
    volumes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    units: list[UnitRow] = field(default_factory=list)


def cohort_filter(
    period: Period,
    *,
    area_id: int | None = None,
    scope: ColumnElement[bool] | None = None,
) -> ColumnElement[bool]:
    """The WHERE condition on `Case` that selects the cohort (see the module docstring)."""
    conditions = [
        Case.received_at >= period.start,
        Case.received_at < period.end,
        Case.status != CaseStatus.MERGED,
        _area_filter(area_id),
    ]
    if scope is not None:
        conditions.append(scope)
    return and_(*conditions)


def unit_counts(
    session: Session,
    period: Period,
    *,
    area_id: int | None = None,
    scope: ColumnElement[bool] | None = None,
    as_of: dt.datetime | None = None,
) -> dict[int | None, Counts]:
    """The counts per owning unit (None: cases without a unit), in one grouped query."""
    facts = _per_case_facts(cohort_filter(period, area_id=area_id, scope=scope), as_of)
    resolved = and_(
        facts.c.last_resolve.is_not(None),
        or_(facts.c.last_reopen.is_(None), facts.c.last_resolve > facts.c.last_reopen),
    )
    on_time = and_(resolved, or_(facts.c.due_at.is_(None), facts.c.last_resolve <= facts.c.due_at))
    first_time = and_(resolved, facts.c.setbacks == 0)
    rated = and_(resolved, facts.c.ratings > 0)
    query = select(
        facts.c.department_id,
        func.count(),
        _sum(and_(facts.c.accepted == 1, facts.c.rejected == 0)),
        _sum(resolved),
        _sum(on_time),
        _sum(first_time),
        _sum(rated),
        func.coalesce(func.sum(facts.c.ratings), 0),
        func.coalesce(func.sum(facts.c.satisfied), 0),
    ).group_by(facts.c.department_id)
    return {
        row[0]: Counts(*(int(value or 0) for value in row[1:])) for row in session.execute(query)
    }


def totals(
    session: Session,
    period: Period,
    *,
    area_id: int | None = None,
    scope: ColumnElement[bool] | None = None,
    as_of: dt.datetime | None = None,
) -> Counts:
    """The headline counts of the cohort (the sum of the per-unit counts)."""
    per_unit = unit_counts(session, period, area_id=area_id, scope=scope, as_of=as_of)
    return sum(per_unit.values(), Counts())


def unit_league(
    session: Session,
    period: Period,
    *,
    area_id: int | None = None,
    scope: ColumnElement[bool] | None = None,
    as_of: dt.datetime | None = None,
    per_unit: dict[int | None, Counts] | None = None,
) -> list[UnitRow]:
    """Units by satisfaction (lowest first, unrated last), then by cases received."""
    if per_unit is None:
        per_unit = unit_counts(session, period, area_id=area_id, scope=scope, as_of=as_of)
    ids = [unit_id for unit_id in per_unit if unit_id is not None]
    names = (
        dict(
            session.execute(
                select(Department.id, Department.name).where(Department.id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    rows = [
        UnitRow(unit_id, names.get(unit_id, "—") if unit_id else "—", counts)
        for unit_id, counts in per_unit.items()
    ]

    def order(row: UnitRow) -> tuple[bool, float, int]:
        rate = row.counts.satisfaction_rate
        return (rate is None, rate if rate is not None else 0.0, -row.counts.received)

    return sorted(rows, key=order)


def open_by_colour(
    session: Session,
    *,
    area_id: int | None = None,
    scope: ColumnElement[bool] | None = None,
) -> dict[WarningLevel, int]:
    """Cases open now, by warning level (every level present, zero when none)."""
    query = (
        select(Case.warning_level, func.count())
        .where(
            Case.status.in_(OPEN_STATUSES),
            _area_filter(area_id),
            scope if scope is not None else true(),
        )
        .group_by(Case.warning_level)
    )
    found = dict(session.execute(query).all())
    return {level: int(found.get(level, 0)) for level in WarningLevel}


def volumes(
    session: Session,
    period: Period,
    dimension: Dimension,
    *,
    area_id: int | None = None,
    scope: ColumnElement[bool] | None = None,
    zone: ZoneInfo | None = None,
) -> list[tuple[str, int]]:
    """Cases received in the cohort, counted by channel, category, item, town, unit or day.

    Keys are codes (channel, category and item codes), names (towns and units, "" when
    unknown) or ISO dates in `zone` (days, ascending); the others are by count, largest first.
    """
    key = _dimension_key(session, dimension, zone or ZoneInfo("Asia/Shanghai"))
    query: Select[Any] = (
        select(key.label("key"), func.count().label("n"))
        .select_from(Case)
        .where(cohort_filter(period, area_id=area_id, scope=scope))
        .group_by(key)
    )
    if dimension == "town":
        query = query.outerjoin(Area, Area.id == Case.town_id)
    elif dimension == "unit":
        query = query.outerjoin(Department, Department.id == Case.department_id)
    rows = [(_key_text(k), int(n)) for k, n in session.execute(query)]
    if dimension == "day":
        return sorted(rows)
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def dashboard(
    session: Session,
    period: Period,
    *,
    area_id: int | None = None,
    scope: ColumnElement[bool] | None = None,
    as_of: dt.datetime | None = None,
    zone: ZoneInfo | None = None,
    dimensions: Iterable[Dimension] = ("channel", "category", "town", "day"),
) -> Dashboard:
    """All the dashboard's figures for one period, area and scope."""
    per_unit = unit_counts(session, period, area_id=area_id, scope=scope, as_of=as_of)
    return Dashboard(
        period=period,
        totals=sum(per_unit.values(), Counts()),
        open_by_colour=open_by_colour(session, area_id=area_id, scope=scope),
        volumes=_all_volumes(
            session, period, tuple(dimensions), area_id=area_id, scope=scope, zone=zone
        ),
        units=unit_league(session, period, per_unit=per_unit),
    )


def _all_volumes(
    session: Session,
    period: Period,
    dimensions: tuple[Dimension, ...],
    *,
    area_id: int | None,
    scope: ColumnElement[bool] | None,
    zone: ZoneInfo | None,
) -> dict[str, list[tuple[str, int]]]:
    """`volumes` for several dimensions; on PostgreSQL in one scan with GROUPING SETS."""
    if session.get_bind().dialect.name != "postgresql" or len(dimensions) < 2:
        return {
            dimension: volumes(session, period, dimension, area_id=area_id, scope=scope, zone=zone)
            for dimension in dimensions
        }
    keys = [
        _dimension_key(session, dimension, zone or ZoneInfo("Asia/Shanghai"))
        for dimension in dimensions
    ]
    query: Select[Any] = (
        select(func.grouping(*keys), *keys, func.count())
        .select_from(Case)
        .where(cohort_filter(period, area_id=area_id, scope=scope))
        .group_by(func.grouping_sets(*(tuple_(key) for key in keys)))
    )
    if "town" in dimensions:
        query = query.outerjoin(Area, Area.id == Case.town_id)
    if "unit" in dimensions:
        query = query.outerjoin(Department, Department.id == Case.department_id)
    found: dict[str, list[tuple[str, int]]] = {dimension: [] for dimension in dimensions}
    last = len(dimensions) - 1
    for row in session.execute(query):
        # GROUPING() sets one bit per key left out of the row's set, the first key highest.
        position = next(i for i in range(len(keys)) if not row[0] & (1 << (last - i)))
        found[dimensions[position]].append((_key_text(row[1 + position]), int(row[-1])))
    return {
        dimension: sorted(rows) if dimension == "day" else sorted(rows, key=_by_count)
        for dimension, rows in found.items()
    }


def _by_count(row: tuple[str, int]) -> tuple[int, str]:
    return (-row[1], row[0])


def _per_case_facts(cohort: ColumnElement[bool], as_of: dt.datetime | None) -> Any:
    """One row per cohort case with its unit, deadline, event flags and rating counts.

    Events and ratings are read as one stream and grouped by case in a single pass over the
    cohort, so the cases table is scanned once however many figures are derived from it.
    """
    event_conditions: list[ColumnElement[bool]] = [
        CaseEvent.action.in_(("accept", "reject", "resolve", *SETBACK_ACTIONS))
    ]
    rating_conditions: list[ColumnElement[bool]] = []
    if as_of is not None:
        event_conditions.append(CaseEvent.at < as_of)
        rating_conditions.append(Rating.at < as_of)
    stream = union_all(
        select(
            CaseEvent.case_id.label("case_id"),
            CaseEvent.action.label("action"),
            CaseEvent.at.label("at"),
            literal(0).label("score"),
        ).where(*event_conditions),
        select(
            Rating.case_id,
            literal("rating", String).label("action"),
            Rating.at,
            Rating.score,
        ).where(*rating_conditions),
    ).subquery("facts_stream")
    action = stream.c.action
    return (
        select(
            Case.id.label("case_id"),
            Case.department_id.label("department_id"),
            Case.due_at.label("due_at"),
            func.max(case((action == "accept", 1), else_=0)).label("accepted"),
            func.max(case((action == "reject", 1), else_=0)).label("rejected"),
            func.max(case((action == "resolve", stream.c.at))).label("last_resolve"),
            func.max(case((action == "reopen", stream.c.at))).label("last_reopen"),
            func.sum(case((action.in_(SETBACK_ACTIONS), 1), else_=0)).label("setbacks"),
            func.sum(case((action == "rating", 1), else_=0)).label("ratings"),
            func.sum(
                case((and_(action == "rating", stream.c.score <= SATISFIED_MAX_SCORE), 1), else_=0)
            ).label("satisfied"),
        )
        .select_from(Case)
        .outerjoin(stream, stream.c.case_id == Case.id)
        .where(cohort)
        .group_by(Case.id, Case.department_id, Case.due_at)
        .subquery("per_case_facts")
    )


def _area_filter(area_id: int | None) -> ColumnElement[bool]:
    """Cases whose place or town lies inside the area (one indexed path-prefix subquery)."""
    if area_id is None:
        return true()
    path = select(Area.path).where(Area.id == area_id).scalar_subquery()
    inside = select(Area.id).where(Area.path.startswith(path))
    return or_(Case.area_id.in_(inside), Case.town_id.in_(inside))


def _dimension_key(session: Session, dimension: Dimension, zone: ZoneInfo) -> Any:
    if dimension == "channel":
        return Case.channel
    if dimension == "category":
        return Case.category_code
    if dimension == "item":
        return Case.item_code
    if dimension == "town":
        return func.coalesce(Area.name, "")
    if dimension == "unit":
        return func.coalesce(Department.name, "")
    return local_day(session, Case.received_at, zone)


def local_day(session: Session, column: Any, zone: ZoneInfo) -> Any:
    """A SQL expression for the local calendar date (as text YYYY-MM-DD) of a UTC timestamp."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(zone.key, column), literal_column("'YYYY-MM-DD'"))
    # SQLite stores naive UTC; China keeps no daylight saving, so one fixed offset is exact.
    offset = dt.datetime.now(zone).utcoffset() or dt.timedelta()
    return func.date(column, f"{int(offset.total_seconds())} seconds")


def _key_text(value: object) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _sum(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None
