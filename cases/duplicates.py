"""Duplicate detection: is a new concern the same matter as an open case nearby?

Residents often report one broken street light several times, in different words, or ask again
after a few days. When a concern (民情诉求; proxy services are never duplicates of each other)
is opened, `check_new_case` looks for an open case of the same catalog item, received in the
last `WINDOW`, in the same village — or in the same grid when both cases have one — and scores
how alike the texts are. The best candidate above `THRESHOLD` becomes the new case's
`duplicate_of_id`: a suspicion, not a merge. The case stays open and is routed and timed as
usual; the console lists it under "possible duplicates", and an agent merges it (合并重复件) or
dismisses the suspicion (不是重复件). The same resident reporting the same matter again is the
commonest duplicate, so an open case of the same item from the same contact is a candidate
whatever the text says (unless it lies in another village).

"Open" is `cases.lifecycle.OPEN_STATUSES`: new, accepted, dispatched, in progress, awaiting
materials, escalated, reopened. A resolved, rated, closed, rejected or merged case is not a
candidate: a new report after 办结 means the problem came back, which is new information for
the unit, not a copy.

Texts are compared at character level (Chinese has no spaces): normalised (`bot.normalize`),
punctuation, the place's own names and single function characters (的, 了 …) removed — both
cases are in the same place by construction, so its name says nothing about their likeness —
then scored with rapidfuzz's `partial_ratio` (the best-matching substring, so a short report
inside a longer one scores high), or plain `ratio` when the shorter text is too short for a
substring match to mean anything. The threshold was tuned on pairs of realistic reports: the
same light described twice in other words scores 57–93, different lights or problems of the
same kind in the same village 0–55.

Candidates are pre-filtered in SQL on the index `ix_cases_area_item_received` (area, item,
received time; migration 0007) and on `ix_cases_contact_id`, newest first and at most
`MAX_CANDIDATES`, so the cost does not grow with the village's backlog. A failure here never
fails the intake: the check runs in a savepoint, logs and leaves the case unmarked.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.normalize import normalize
from cases.clock import Clock
from cases.lifecycle import OPEN_STATUSES, SYSTEM, ActionContext, Actor, perform
from cases.models import Area, Case, CaseEvent
from cases.models.cases import CaseKind, CaseStatus
from cases.models.directory import AreaLevel

log = logging.getLogger(__name__)

# Only cases received this recently are compared (issue 5: "in the last 14 days").
WINDOW = dt.timedelta(days=14)
# Text similarity (0–100) from which a case in the same place is a candidate.
THRESHOLD = 55.0
# The same resident re-reporting the same item: a candidate whatever the text says.
SAME_CONTACT_THRESHOLD = 0.0
# At most this many recent cases are scored per check, so the cost stays bounded.
MAX_CANDIDATES = 200
# Texts are cut to this many characters of their comparable form before scoring.
MAX_TEXT = 300
# Below this many characters a substring match means nothing ("门口" is in every text).
MIN_PARTIAL = 4

# The event data key that marks a duplicate suspicion recorded by this module.
SUSPECTED = "suspected"
# Merges followed one after another at the most (a guard: chains are a few cases long).
MAX_MERGE_CHAIN = 50

_NON_WORD = re.compile(r"[\W_]+")
# Function characters that carry no meaning for likeness: particles, pronouns, measure words.
_FUNCTION_CHARACTERS = frozenset("的了吧呢啊呀吗嘛哦么个那这就都也很还是在有我们你他她它一")
# Suffixes of place names; the bare stem (渔港 of 渔港社区) is removed too.
_PLACE_SUFFIXES = ("社区", "街道", "网格", "居委会", "村委会", "村", "镇", "乡", "组")


@dataclass(frozen=True)
class Candidate:
    """An open case the new one may duplicate."""

    case_id: int
    number: str
    score: float
    same_contact: bool


def check_new_case(
    session: Session, case: Case, *, now: dt.datetime, clock: Clock
) -> Candidate | None:
    """Mark a newly opened concern as a possible duplicate of the best open candidate.

    Sets `case.duplicate_of_id` and appends an internal note (not shown to the resident) with
    the score and the candidate's number. The case must be flushed (it has an id). Never
    raises: any failure is logged and the case stays unmarked.

    Returns:
        The candidate the case was linked to, or None.
    """
    if case.kind is not CaseKind.CONCERN or case.duplicate_of_id is not None:
        return None
    try:
        # A savepoint: on PostgreSQL a failed statement would otherwise abort the whole intake.
        with session.begin_nested():
            found = find_candidate(session, case, now=now)
    except Exception:  # the one boundary: duplicate detection must never lose an intake
        log.exception("duplicate check failed for case %s; opened without it", case.number)
        return None
    if found is not None:
        mark_suspected(session, case, found, SYSTEM, ActionContext(now=now, clock=clock))
    return found


def find_candidate(session: Session, case: Case, *, now: dt.datetime) -> Candidate | None:
    """The open case of the same item that the new case most likely duplicates, if any."""
    place = _Place.of(session, case.area_id)
    rows = _candidate_rows(session, case, place, now)
    text = comparable_text(case.description or case.summary, place.names)
    found: list[tuple[_Row, Candidate]] = []
    for row in rows:
        same_contact = case.contact_id is not None and row.contact_id == case.contact_id
        if same_contact and not place.compatible(row.area_id):
            continue
        score = similarity(text, comparable_text(row.description or row.summary, place.names))
        if score < (SAME_CONTACT_THRESHOLD if same_contact else THRESHOLD):
            continue
        found.append((row, Candidate(row.id, row.number, score, same_contact)))
    if not found:
        return None
    # Highest score first; on a tie the earlier case, the likelier original.
    found.sort(key=lambda pair: (-pair[1].score, pair[0].received_at, pair[0].id))
    return found[0][1]


def mark_suspected(
    session: Session, case: Case, candidate: Candidate, actor: Actor, context: ActionContext
) -> CaseEvent:
    """Link the case to its suspected original and record why, for the agent who decides."""
    case.duplicate_of_id = candidate.case_id
    reason = "same_contact" if candidate.same_contact else "text"
    data = {
        "duplicate": SUSPECTED,
        "duplicate_of_id": candidate.case_id,
        "duplicate_of": candidate.number,
        "score": round(candidate.score),
        "reason": reason,
    }
    note = (
        f"疑似重复件：与 {candidate.number} 相似度 {round(candidate.score)} / "
        f"possible duplicate of {candidate.number}, similarity {round(candidate.score)}"
        + ("（同一群众 / same resident）" if candidate.same_contact else "")
    )
    noted = ActionContext(context.now, context.clock, {**context.data, **data})
    event = perform(case, "note", actor, noted, note=note)
    session.add(event)
    return event


def suspicion(case: Case) -> dict[str, object] | None:
    """The recorded suspicion behind the case's current `duplicate_of_id` (score, reason)."""
    if case.duplicate_of_id is None:
        return None
    for event in reversed(case.events):
        data = event.data or {}
        if (
            data.get("duplicate") == SUSPECTED
            and data.get("duplicate_of_id") == case.duplicate_of_id
        ):
            return dict(data)
    return None


def surviving_case(session: Session, case: Case) -> Case:
    """The case that `case` was merged into, following merges to the end; `case` if not merged.

    A merge into a case that was itself merged later leads on to that case's survivor, so an
    agent merging into a merged case merges into the one still being handled.
    """
    seen = {case.id}
    current = case
    while current.status is CaseStatus.MERGED and current.duplicate_of_id is not None:
        following = session.get(Case, current.duplicate_of_id)
        if following is None or following.id in seen or len(seen) > MAX_MERGE_CHAIN:
            break  # a broken or circular chain ends where it breaks
        seen.add(following.id)
        current = following
    return current


def merged_into(session: Session, case: Case) -> list[Case]:
    """The cases merged into `case`, directly or through other merged cases, oldest first.

    Their residents follow `case`: they hear its news as its own resident does.
    """
    found: dict[int, Case] = {}
    frontier = [case.id]
    for _ in range(MAX_MERGE_CHAIN):
        rows = session.scalars(
            select(Case)
            .where(Case.duplicate_of_id.in_(frontier), Case.status == CaseStatus.MERGED)
            .order_by(Case.id)
        ).all()
        frontier = [row.id for row in rows if row.id not in found and row.id != case.id]
        if not frontier:
            break
        found.update((row.id, row) for row in rows if row.id in frontier)
    return sorted(found.values(), key=lambda merged: merged.id)


def comparable_text(text: str, place_names: Iterable[str] = ()) -> str:
    """The part of a report that tells it apart from others in the same place."""
    key = _NON_WORD.sub("", normalize(text[: MAX_TEXT * 4])).lower()
    for name in place_names:
        key = key.replace(name, "")
    key = "".join(char for char in key if char not in _FUNCTION_CHARACTERS)
    return key[:MAX_TEXT]


def similarity(first: str, second: str) -> float:
    """How alike two comparable texts are, 0–100 (character level)."""
    if not first or not second:
        return 0.0
    if min(len(first), len(second)) < MIN_PARTIAL:
        return float(fuzz.ratio(first, second))
    return float(fuzz.partial_ratio(first, second))


@dataclass(frozen=True)
class _Place:
    """Where a case is: its village, grid (if any), the area ids to search, and their names."""

    village_id: int | None = None
    grid_id: int | None = None
    area_ids: tuple[int, ...] = ()
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, session: Session, area_id: int | None) -> _Place:
        """The place of an area; a town, the county or no area has no village to match."""
        area = session.get(Area, area_id) if area_id is not None else None
        if area is None:
            return cls()
        if area.level is AreaLevel.GRID:
            village = session.get(Area, area.parent_id) if area.parent_id else None
            if village is None:
                return cls(None, area.id, (area.id,), _names([area]))
            # Both in a grid: the same grid; the other without one: the same village.
            return cls(village.id, area.id, (area.id, village.id), _names(_chain(session, area)))
        if area.level is AreaLevel.VILLAGE:
            grids = session.scalars(
                select(Area.id).where(Area.parent_id == area.id, Area.level == AreaLevel.GRID)
            )
            return cls(area.id, None, (area.id, *grids), _names(_chain(session, area)))
        return cls(names=_names([area]))

    def compatible(self, area_id: int | None) -> bool:
        """False when the other case is known to lie in another village (or grid)."""
        return area_id is None or self.village_id is None or area_id in self.area_ids


def _candidate_rows(session: Session, case: Case, place: _Place, now: dt.datetime) -> list[_Row]:
    """Recent open cases of the same item: in the place, and from the same contact."""
    columns = (
        Case.id,
        Case.number,
        Case.summary,
        Case.description,
        Case.area_id,
        Case.contact_id,
        Case.received_at,
    )
    common = (
        Case.item_code == case.item_code,
        Case.status.in_(OPEN_STATUSES),
        Case.received_at >= now - WINDOW,
        Case.id != case.id,
    )
    found: dict[int, _Row] = {}
    # One query per area (village and each grid), each an ordered range scan of the index that
    # stops after MAX_CANDIDATES rows; one `area_id IN (…)` would read and sort the whole
    # backlog of the village on PostgreSQL.
    nearby: list[_Row] = []
    for area_id in place.area_ids:
        query = (
            select(*columns)
            .where(Case.area_id == area_id, *common)
            .order_by(Case.received_at.desc())
            .limit(MAX_CANDIDATES)
        )
        nearby.extend(_Row(*row) for row in session.execute(query))
    nearby.sort(key=lambda row: row.received_at, reverse=True)
    found.update((row.id, row) for row in nearby[:MAX_CANDIDATES])
    if case.contact_id is not None:
        query = (
            select(*columns)
            .where(Case.contact_id == case.contact_id, *common)
            .order_by(Case.received_at.desc())
            .limit(MAX_CANDIDATES)
        )
        found.update((row.id, _Row(*row)) for row in session.execute(query))
    return list(found.values())


@dataclass(frozen=True)
class _Row:
    id: int
    number: str
    summary: str
    description: str
    area_id: int | None
    contact_id: int | None
    received_at: dt.datetime


def _chain(session: Session, area: Area) -> list[Area]:
    """The area and its ancestors up to the town (their names appear in reports)."""
    chain = [area]
    current = area
    while current.parent_id is not None and current.level not in {AreaLevel.TOWN}:
        parent = session.get(Area, current.parent_id)
        if parent is None:
            break
        chain.append(parent)
        current = parent
    return chain


def _names(areas: Iterable[Area]) -> tuple[str, ...]:
    """Place names and their stems (渔港社区 → 渔港), longest first so the full name goes first."""
    names: set[str] = set()
    for area in areas:
        name = normalize(area.name)
        names.add(name)
        for suffix in _PLACE_SUFFIXES:
            stem = name.removesuffix(suffix)
            if stem != name and len(stem) >= 2:
                names.add(stem)
    return tuple(sorted((n for n in names if len(n) >= 2), key=len, reverse=True))
