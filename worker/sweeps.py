"""The deadline sweep: open cases move to yellow, orange and red, set-based.

`sweep_deadlines(now)` is the job (run every few minutes by the scheduler):

1. Per level, red first: one indexed query for the ids of the cases whose level changes (a
   running clock, `lifecycle.CLOCK_RUNNING`, not paused; the threshold passed; a lower level
   stored), then `UPDATE … RETURNING` over them in batches of `BATCH`, each batch one short
   transaction that re-checks the conditions. A case crosses each level at most once per
   deadline, so it is warned at most once per level. Each changed case gets one "warn" event
   (`{"level": …}`, not shown to the resident) in the same statement on PostgreSQL (`WITH
   changed AS (UPDATE …) INSERT … SELECT … FROM changed`), by one executemany on SQLite. A
   backlog (the first sweep, or one after an outage) thus never holds a case locked for long,
   and its breach jobs are queued batch by batch, as each commits.
2. Red cases whose breach jobs never got to run are picked up again: "warn" events after the
   last sweep whose hand-off to the queue completed (a watermark kept in Redis), for cases
   still red and running with no breach entry since. If the watermark is gone, Redis lost its
   data and the queued jobs with it, so the sweep looks back `RECOVERY_WINDOW` instead.
3. Dispatches past their 签收 deadline with no "unsigned" entry since the dispatch.

Red and late cases go to `worker.breach` jobs in chunks after the commit that found them; the
SMS are never sent inside a sweep transaction, and the watermark moves only once every chunk
is queued. A Redis lock keeps two sweeps from overlapping (a slow sweep and the scheduler's
next tick). The comparisons are those of `cases.clock.warning_level`: red once
`now > due_at`, orange from `orange_at`, yellow from `yellow_at`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from redis import Redis
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Update,
    and_,
    any_,
    exists,
    false,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from cases.db import session_scope
from cases.lifecycle import CLOCK_RUNNING
from cases.models import AccountabilityEntry, Base, Case, CaseEvent
from cases.models.base import JSONType
from cases.models.cases import ActorType, CaseStatus, WarningLevel
from worker import runtime
from worker.breach import BREACH_JOB, UNSIGNED_JOB, unsigned_cutoff
from worker.queue import POLICIES, enqueue
from worker.runtime import Services

log = logging.getLogger(__name__)

JOB = "worker.sweeps.sweep_deadlines"
# Case ids per breach or unsigned job: a million red cases are 5,000 jobs, not a million.
CHUNK = 200
# Cases changed per transaction: bounds how long a sweep holds rows an agent may be editing.
BATCH = 5000
# How far back to look for red cases never handed on when the hand-off watermark is gone.
RECOVERY_WINDOW = dt.timedelta(days=7)
WATERMARK_KEY = "zhitong:sweep:handed-off"
LOCK_KEY = "zhitong:sweep:lock"

_CASES = Base.metadata.tables[Case.__tablename__]
_EVENTS = Base.metadata.tables[CaseEvent.__tablename__]
_ENTRIES = Base.metadata.tables[AccountabilityEntry.__tablename__]
# Sorted so the statement text (and PostgreSQL's plan cache) is the same on every run.
_RUNNING = sorted(CLOCK_RUNNING)
_EVENT_COLUMNS = (
    "case_id",
    "action",
    "actor_type",
    "actor_id",
    "actor_name",
    "at",
    "from_status",
    "to_status",
    "note",
    "visible_to_resident",
    "data",
)


@dataclass(frozen=True)
class SweepResult:
    """What one sweep changed and handed on."""

    yellow: int = 0
    orange: int = 0
    red: int = 0
    recovered: int = 0  # red cases handed to breach jobs again (no breach entry yet)
    unsigned: int = 0  # dispatches past their 签收 deadline handed to alert jobs
    jobs: int = 0  # breach and unsigned jobs queued
    seconds: float = 0.0
    skipped: bool = False  # another sweep was running

    @property
    def changed(self) -> int:
        """Cases whose warning level changed."""
        return self.yellow + self.orange + self.red


def sweep_deadlines(now: dt.datetime | None = None) -> SweepResult:
    """Move cases to the warning level their clock has reached and hand on the red ones.

    Args:
        now: the moment to judge by; the current time when None (as the scheduler runs it).
    """
    started = time.perf_counter()
    services = runtime.current()
    moment = now or dt.datetime.now(dt.UTC)
    lock = services.redis.lock(LOCK_KEY, timeout=POLICIES[JOB].timeout, blocking=False)
    if not lock.acquire():
        log.info("deadline sweep skipped: another one is running")
        return SweepResult(skipped=True)
    try:
        result = _sweep(services, moment)
    finally:
        lock.release()
    result = replace(result, seconds=round(time.perf_counter() - started, 3))
    log.info(
        "deadline sweep",
        extra={
            "yellow": result.yellow,
            "orange": result.orange,
            "red": result.red,
            "recovered": result.recovered,
            "unsigned": result.unsigned,
            "jobs": result.jobs,
            "seconds": result.seconds,
        },
    )
    return result


def _sweep(services: Services, now: dt.datetime) -> SweepResult:
    handed_off = _stored_time(services.redis.get(WATERMARK_KEY))
    changed: dict[WarningLevel, list[int]] = {}
    jobs = 0
    for level in (WarningLevel.RED, WarningLevel.ORANGE, WarningLevel.YELLOW):
        with session_scope(services.sessions) as session:
            due = reached(session, level, now)
        changed[level] = []
        for batch in chunks(due, BATCH):
            with session_scope(services.sessions) as session:
                moved = advance(session, level, now, batch)
            changed[level] += moved
            if level is WarningLevel.RED:
                jobs += _hand_on(services.redis, BREACH_JOB, moved)
    red = changed[WarningLevel.RED]
    with session_scope(services.sessions) as session:
        since = handed_off or now - RECOVERY_WINDOW
        recovered = unrecorded_breaches(session, since, now, exclude=set(red))
        late = unsigned_dispatches(session, unsigned_cutoff(now, services.clock))
    jobs += _hand_on(services.redis, BREACH_JOB, recovered)
    jobs += _hand_on(services.redis, UNSIGNED_JOB, late)
    if handed_off is None or now > handed_off:
        services.redis.set(WATERMARK_KEY, now.astimezone(dt.UTC).isoformat())
    return SweepResult(
        yellow=len(changed[WarningLevel.YELLOW]),
        orange=len(changed[WarningLevel.ORANGE]),
        red=len(red),
        recovered=len(recovered),
        unsigned=len(late),
        jobs=jobs,
    )


def _hand_on(redis: Redis, job: str, case_ids: Sequence[int]) -> int:
    """Queue `job` for the cases in chunks; how many jobs were queued."""
    queued = 0
    for chunk in chunks(case_ids, CHUNK):
        enqueue(redis, job, chunk)
        queued += 1
    return queued


def _stored_time(raw: object) -> dt.datetime | None:
    """A time kept in Redis (ISO 8601 bytes), or None when there is none."""
    return dt.datetime.fromisoformat(raw.decode()) if isinstance(raw, bytes) else None


def reached(session: Session, level: WarningLevel, now: dt.datetime) -> list[int]:
    """Ids of the running cases that reached `level` and have a lower one stored, in id order.

    Sorted, a batch of ids lies close together in the table (cases are appended in id order),
    so updating it reads few pages; in threshold order it would read a page per case.
    """
    statement = select(_CASES.c.id).where(*_reached(level, now))
    return sorted(session.connection().execute(statement).scalars())


def advance(
    session: Session, level: WarningLevel, now: dt.datetime, case_ids: Sequence[int]
) -> list[int]:
    """Set `level` on those of `case_ids` that still reached it; return the ids changed.

    One "warn" event is written per changed case. Levels must be advanced red first, so that a
    case already past its deadline is not stopped at orange on the way.
    """
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    # One array parameter on PostgreSQL (no limit on its length); SQLite takes a plain IN list.
    among = (
        _CASES.c.id == any_(literal(list(case_ids), ARRAY(Integer)))
        if postgresql
        else _CASES.c.id.in_(case_ids)
    )
    changed = (
        update(_CASES)
        .where(among, *_reached(level, now))
        .values(warning_level=level, updated_at=now)
        .returning(_CASES.c.id, _CASES.c.status)
    )
    if postgresql:
        return _advance_in_one_statement(connection, changed, level, now)
    rows = connection.execute(changed).all()
    if rows:
        connection.execute(
            insert(_EVENTS),
            [_warn_event(row.id, row.status, level, now) for row in rows],
        )
    return [row.id for row in rows]


def _reached(level: WarningLevel, now: dt.datetime) -> list[ColumnElement[bool]]:
    """The conditions of a case whose clock has reached `level` and whose stored level is lower.

    Partial indexes with these predicates (status list, paused_at IS NULL, level below) hold
    only the cases still to move, so a sweep reads nothing else: e.g. for red
    `CREATE INDEX … ON cases (due_at) WHERE warning_level <> 'red' AND paused_at IS NULL AND
    status IN (…running…)`.
    """
    running = [_CASES.c.status.in_(_RUNNING), _CASES.c.paused_at.is_(None)]
    if level is WarningLevel.RED:
        return [*running, _CASES.c.warning_level != WarningLevel.RED, _CASES.c.due_at < now]
    if level is WarningLevel.ORANGE:
        return [
            *running,
            _CASES.c.warning_level.in_([WarningLevel.NONE, WarningLevel.YELLOW]),
            _CASES.c.orange_at <= now,
            _CASES.c.due_at.is_not(None),
        ]
    if level is WarningLevel.YELLOW:
        return [
            *running,
            _CASES.c.warning_level == WarningLevel.NONE,
            _CASES.c.yellow_at <= now,
            _CASES.c.due_at.is_not(None),
        ]
    raise ValueError(f"no case is moved to {level.value}")


def _advance_in_one_statement(
    connection: Connection, changed: Update, level: WarningLevel, now: dt.datetime
) -> list[int]:
    cte = changed.cte("changed")
    statement = (
        insert(_EVENTS)
        .add_cte(cte)
        .from_select(
            list(_EVENT_COLUMNS),
            select(
                cte.c.id,
                literal("warn"),
                literal(ActorType.SYSTEM.value),
                null(),
                literal("system"),
                literal(now, _EVENTS.c.at.type),
                cte.c.status,
                cte.c.status,
                literal(""),
                false(),
                literal({"level": level.value}, JSONType),
            ),
        )
        .returning(_EVENTS.c.case_id)
    )
    return list(connection.execute(statement).scalars())


def _warn_event(
    case_id: int, status: CaseStatus, level: WarningLevel, now: dt.datetime
) -> dict[str, object]:
    values = (
        case_id,
        "warn",
        ActorType.SYSTEM,
        None,
        "system",
        now,
        status,
        status,
        "",
        False,
        {"level": level.value},
    )
    return dict(zip(_EVENT_COLUMNS, values, strict=True))


def unrecorded_breaches(
    session: Session, since: dt.datetime, now: dt.datetime, exclude: set[int]
) -> list[int]:
    """Red running cases that turned red after `since` and have no breach entry since then."""
    entry_since_warning = exists().where(
        _ENTRIES.c.case_id == _EVENTS.c.case_id,
        _ENTRIES.c.kind == "breach",
        _ENTRIES.c.at >= _EVENTS.c.at,
    )
    statement = (
        select(_EVENTS.c.case_id)
        .distinct()
        .join(_CASES, _CASES.c.id == _EVENTS.c.case_id)
        .where(
            _EVENTS.c.action == "warn",
            _EVENTS.c.at > since,
            _EVENTS.c.at <= now,
            _CASES.c.warning_level == WarningLevel.RED,
            _CASES.c.status.in_(_RUNNING),
            _CASES.c.paused_at.is_(None),
            ~entry_since_warning,
        )
    )
    found = session.connection().execute(statement).scalars()
    return sorted(case_id for case_id in found if case_id not in exclude)


def unsigned_dispatches(session: Session, cutoff: dt.datetime) -> list[int]:
    """Dispatched cases not signed for, dispatched before `cutoff`, not alerted since."""
    alerted = exists().where(
        _ENTRIES.c.case_id == _CASES.c.id,
        _ENTRIES.c.kind == "unsigned",
        _ENTRIES.c.at >= _CASES.c.dispatched_at,
    )
    statement = (
        select(_CASES.c.id)
        .where(
            and_(
                _CASES.c.status == CaseStatus.DISPATCHED,
                _CASES.c.signed_at.is_(None),
                _CASES.c.dispatched_at < cutoff,
                ~alerted,
            )
        )
        .order_by(_CASES.c.id)
    )
    return list(session.connection().execute(statement).scalars())


def chunks(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    """`ids` in lists of at most `size` (the arguments of one job each)."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])
