"""The morning digest: one SMS per unit head listing the unit's yellow, orange and red cases.

`send_morning_digests(now)` is the job, run by the scheduler each morning. It counts the open
cases with a warning light per unit in one grouped query, picks each unit's worst few case
numbers (red before orange before yellow, earliest deadline first) with a window function, and
queues one SMS of at most two segments to each unit's head. It sends on working days only:
units do not work on holidays, and the first working morning's digest covers them.

Once per unit per day: the job claims `zhitong:digest:{unit id}:{YYYYMMDD}` with Redis
`SET NX` (expiring after a few days) before writing the unit's message, and releases the claim
if the write fails. The database offers no natural key for a message that belongs to no case
or event (the unique key of outbound messages is (event_id, contact_id)), and a schema change
for a reminder is not worth it: the claim is atomic across workers, a retried job skips the
units already done, and the worst a lost Redis can do is one duplicate digest, never a lost case.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import case as when
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.db import session_scope
from cases.lifecycle import OPEN_STATUSES
from cases.models import Case, Department
from cases.models.cases import WarningLevel
from worker import runtime
from worker.breach import format_moment, queue_staff_sms, staff_contact, staff_text
from worker.delivery import enqueue_delivery

log = logging.getLogger(__name__)

JOB = "worker.digest.send_morning_digests"
WORST_SHOWN = 5
MAX_SEGMENTS = 2
CLAIM_TTL_SECONDS = 3 * 24 * 3600

_WARNED = [WarningLevel.YELLOW, WarningLevel.ORANGE, WarningLevel.RED]
_OPEN = sorted(OPEN_STATUSES)

# GSM 03.38: texts in this alphabet go as 7-bit (160 a segment), anything else as UCS-2 (70).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€")


@dataclass(frozen=True)
class UnitWarnings:
    """A unit's open cases with a warning light, and the worst of them."""

    department_id: int
    red: int
    orange: int
    yellow: int
    worst: tuple[str, ...]


@dataclass(frozen=True)
class DigestResult:
    """What one run of the digest job did."""

    sent: int = 0  # units whose digest was queued
    already: int = 0  # units whose digest went out earlier today
    skipped: int = 0  # units without a head's phone
    working_day: bool = True


def send_morning_digests(now: dt.datetime | None = None) -> DigestResult:
    """Queue today's digest SMS for every unit with warned open cases, once per unit and day.

    Args:
        now: the moment of the run; the current time when None.
    """
    services = runtime.current()
    moment = now or dt.datetime.now(dt.UTC)
    day = moment.astimezone(services.clock.hours.zone).date()
    if not services.clock.calendar.is_working_day(day):
        return DigestResult(working_day=False)
    with session_scope(services.sessions) as session:
        units = unit_warnings(session)
    sent = already = skipped = 0
    for warnings in units:
        claim = f"zhitong:digest:{warnings.department_id}:{day:%Y%m%d}"
        if not services.redis.set(claim, moment.isoformat(), nx=True, ex=CLAIM_TTL_SECONDS):
            already += 1
            continue
        try:
            with session_scope(services.sessions) as session:
                message_id = _queue_digest(session, warnings, moment)
        except BaseException:
            services.redis.delete(claim)  # let a retry of the job send it
            raise
        if message_id is None:
            skipped += 1
            continue
        enqueue_delivery(services.redis, message_id)
        sent += 1
    log.info("morning digests", extra={"sent": sent, "already": already, "skipped": skipped})
    return DigestResult(sent=sent, already=already, skipped=skipped)


def unit_warnings(session: Session) -> list[UnitWarnings]:
    """Per unit: open cases by warning level, and its worst `WORST_SHOWN` case numbers."""
    cases = Case.__table__.c
    warned = [
        cases.status.in_(_OPEN),
        cases.warning_level.in_(_WARNED),
        cases.department_id.is_not(None),
    ]
    counts: dict[int, dict[WarningLevel, int]] = defaultdict(dict)
    for department_id, level, count in session.execute(
        select(cases.department_id, cases.warning_level, func.count())
        .where(*warned)
        .group_by(cases.department_id, cases.warning_level)
    ):
        counts[department_id][level] = count
    severity = when(
        (cases.warning_level == WarningLevel.RED, 3),
        (cases.warning_level == WarningLevel.ORANGE, 2),
        else_=1,
    )
    position = (
        func.row_number()
        .over(
            partition_by=cases.department_id,
            order_by=(severity.desc(), cases.due_at.asc(), cases.id.asc()),
        )
        .label("position")
    )
    ranked = select(cases.department_id, cases.number, position).where(*warned).subquery()
    worst: dict[int, list[str]] = defaultdict(list)
    for department_id, number in session.execute(
        select(ranked.c.department_id, ranked.c.number)
        .where(ranked.c.position <= WORST_SHOWN)
        .order_by(ranked.c.department_id, ranked.c.position)
    ):
        worst[department_id].append(number)
    return [
        UnitWarnings(
            department_id,
            levels.get(WarningLevel.RED, 0),
            levels.get(WarningLevel.ORANGE, 0),
            levels.get(WarningLevel.YELLOW, 0),
            tuple(worst[department_id]),
        )
        for department_id, levels in sorted(counts.items())
    ]


def _queue_digest(session: Session, warnings: UnitWarnings, now: dt.datetime) -> int | None:
    unit = session.get(Department, warnings.department_id)
    if unit is None or not unit.head_phone:
        log.warning("no phone for the digest", extra={"department_id": warnings.department_id})
        return None
    contact = staff_contact(session, unit.head_phone, unit.head_name, now)
    zone = runtime.current().clock.hours.zone
    body = digest_text(
        contact.language,
        unit.name_en if contact.language == "en" and unit.name_en else unit.name,
        format_moment(now, zone, contact.language, "day"),
        warnings,
    )
    return queue_staff_sms(session, contact.id, body, now)


def digest_text(language: str, unit_name: str, day: str, warnings: UnitWarnings) -> str:
    """The digest SMS with as many of the worst case numbers as fit in two segments."""
    separator = staff_text("list_separator", language)
    text = ""
    for shown in range(len(warnings.worst), -1, -1):
        numbers = separator.join(warnings.worst[:shown])
        text = staff_text(
            "digest",
            language,
            date=day,
            unit=unit_name,
            red=warnings.red,
            orange=warnings.orange,
            yellow=warnings.yellow,
            worst=staff_text("digest_worst", language, numbers=numbers) if shown else "",
        )
        if sms_segments(text) <= MAX_SEGMENTS:
            break
    return text


def sms_segments(text: str) -> int:
    """How many SMS segments `text` takes (GSM 7-bit when it can, else UCS-2)."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in text):
        units = len(text) + sum(char in _GSM_EXTENDED for char in text)
        single, part = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else -(-units // part)
