"""The case lifecycle: one table of actions, one function that performs them.

Every action an agent, the bot or a job can take on a case is a row of `ACTIONS`: the statuses
it may start from, the status it leads to (or none, for events such as a note or a reminder),
whether the resident sees it, what it requires, and the guard that may still refuse it. Anything
not in the table is refused with `TransitionError`; a guard that says no raises
`ActionRefusedError`. `perform` changes the case and appends exactly one `CaseEvent`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cases.clock import Clock, Deadline, warning_level
from cases.exceptions import ActionRefusedError, TransitionError
from cases.models import Case, CaseEvent
from cases.models.cases import ActorType, CaseStatus, HandlingKind
from cases.text import storable

S = CaseStatus

# 退单: the receiving unit may send a dispatch back within 2 working days of receiving it.
RETURN_WINDOW_WORKING_DAYS = 2
# 延期: at most 10 working days in all, approved by a supervisor.
MAX_EXTENSION_WORKING_DAYS = 10

OPEN_STATUSES = frozenset(
    {S.NEW, S.ACCEPTED, S.DISPATCHED, S.IN_PROGRESS, S.AWAITING_MATERIALS, S.ESCALATED, S.REOPENED}
)
# Statuses in which the deadline clock runs.
CLOCK_RUNNING = OPEN_STATUSES - {S.AWAITING_MATERIALS}
FINAL_STATUSES = frozenset({S.CLOSED, S.REJECTED, S.MERGED})
ALL_STATUSES = frozenset(S)


@dataclass(frozen=True)
class Actor:
    """Who performs an action: an agent, the bot, the system, or the resident."""

    type: ActorType
    id: int | None = None
    name: str = ""


SYSTEM = Actor(ActorType.SYSTEM, name="system")
BOT = Actor(ActorType.BOT, name="bot")


@dataclass(frozen=True)
class ActionContext:
    """What a guard may look at besides the case: the time and the deadline clock."""

    now: dt.datetime
    clock: Clock
    data: dict[str, Any] = field(default_factory=dict)


Guard = Callable[[Case, ActionContext], str | None]


@dataclass(frozen=True)
class Action:
    """One row of the lifecycle table."""

    sources: frozenset[CaseStatus]
    target: CaseStatus | None = None  # None: the status does not change
    visible: bool = False  # the resident is told (and notified) of this event
    needs_note: bool = False  # a reason or result text is required
    guards: tuple[Guard, ...] = ()


def _within_return_window(case: Case, context: ActionContext) -> str | None:
    if case.dispatched_at is None:
        return None
    zone = context.clock.hours.zone
    passed = context.clock.calendar.working_days_between(
        case.dispatched_at.astimezone(zone).date(), context.now.astimezone(zone).date()
    )
    if passed > RETURN_WINDOW_WORKING_DAYS:
        return (
            f"退单 must be within {RETURN_WINDOW_WORKING_DAYS} working days of dispatch; "
            f"{passed} have passed"
        )
    return None


def _extension_in_limit(case: Case, context: ActionContext) -> str | None:
    days = context.data.get("days")
    if not isinstance(days, int) or days < 1:
        return "an extension needs a whole number of working days (at least 1)"
    if case.extension_days + days > MAX_EXTENSION_WORKING_DAYS:
        return (
            f"extensions are limited to {MAX_EXTENSION_WORKING_DAYS} working days in all; "
            f"{case.extension_days} already granted"
        )
    if case.due_at is None:
        return "this case has no deadline to extend"
    return None


def _extension_pending(case: Case, context: ActionContext) -> str | None:
    return None if pending_extension(case) else "no extension request is waiting for a decision"


def _has_duplicate_target(case: Case, context: ActionContext) -> str | None:
    target = context.data.get("duplicate_of_id")
    if not isinstance(target, int) or target == case.id:
        return "a merge names the surviving case (another case)"
    return None


def _has_rating(case: Case, context: ActionContext) -> str | None:
    score = context.data.get("score")
    return None if isinstance(score, int) and 1 <= score <= 5 else "a rating is a score from 1 to 5"


ACTIONS: dict[str, Action] = {
    # 受理 / 不予受理
    "accept": Action(frozenset({S.NEW}), S.ACCEPTED, visible=True),
    "reject": Action(frozenset({S.NEW, S.ACCEPTED}), S.REJECTED, visible=True, needs_note=True),
    # 交办, 签收, 退单
    "dispatch": Action(
        frozenset({S.ACCEPTED, S.ESCALATED, S.REOPENED}), S.DISPATCHED, visible=True
    ),
    "sign": Action(frozenset({S.DISPATCHED}), S.IN_PROGRESS, visible=True),
    "return": Action(
        frozenset({S.DISPATCHED}), S.ACCEPTED, needs_note=True, guards=(_within_return_window,)
    ),
    # 补办: the clock stops until the materials arrive
    "request_materials": Action(
        frozenset({S.ACCEPTED, S.IN_PROGRESS}), S.AWAITING_MATERIALS, visible=True, needs_note=True
    ),
    "receive_materials": Action(frozenset({S.AWAITING_MATERIALS}), S.IN_PROGRESS, visible=True),
    # 上报 to the next level
    "escalate": Action(
        frozenset({S.ACCEPTED, S.DISPATCHED, S.IN_PROGRESS, S.REOPENED}), S.ESCALATED, visible=True
    ),
    # 办结, 回访, 重办, 结案
    "resolve": Action(
        frozenset({S.ACCEPTED, S.IN_PROGRESS, S.REOPENED}),
        S.RESOLVED,
        visible=True,
        needs_note=True,
    ),
    "rate": Action(frozenset({S.RESOLVED}), S.RATED, guards=(_has_rating,)),
    "reopen": Action(frozenset({S.RESOLVED, S.RATED}), S.REOPENED, visible=True),
    "close": Action(frozenset({S.RESOLVED, S.RATED}), S.CLOSED),
    # duplicates
    "merge": Action(OPEN_STATUSES, S.MERGED, visible=True, guards=(_has_duplicate_target,)),
    "unmerge": Action(frozenset({S.MERGED})),  # back to the status before the merge
    # 延期: requested by the unit, decided by a supervisor
    "request_extension": Action(
        OPEN_STATUSES - {S.NEW}, needs_note=True, guards=(_extension_in_limit,)
    ),
    "approve_extension": Action(
        OPEN_STATUSES - {S.NEW}, visible=True, guards=(_extension_pending,)
    ),
    "deny_extension": Action(
        OPEN_STATUSES - {S.NEW}, needs_note=True, guards=(_extension_pending,)
    ),
    # events that change nothing but the record
    "create": Action(frozenset({S.NEW})),
    "remind": Action(OPEN_STATUSES),  # 催办
    "supervise": Action(OPEN_STATUSES, needs_note=True),  # 督办
    "assign": Action(OPEN_STATUSES),
    "reclassify": Action(OPEN_STATUSES),
    "warn": Action(OPEN_STATUSES),  # the clock reached a warning level
    "note": Action(ALL_STATUSES, needs_note=True),  # internal note
    "message": Action(ALL_STATUSES, visible=True, needs_note=True),  # to the resident
}


def allowed_actions(case: Case) -> list[str]:
    """Actions the table allows from the case's status (guards not yet consulted)."""
    return [name for name, action in ACTIONS.items() if case.status in action.sources]


def perform(
    case: Case,
    action_name: str,
    actor: Actor,
    context: ActionContext,
    *,
    note: str = "",
    visible: bool | None = None,
) -> CaseEvent:
    """Carry out one action on a case and append its event.

    Args:
        case: the case, loaded in the caller's session (the caller commits).
        action_name: a key of `ACTIONS`.
        actor: who acts.
        context: the time, the clock, and action data (days, score, duplicate_of_id …).
        note: reason, result text or message, where the action needs one.
        visible: override the table's resident visibility (for a note the agent shares).

    Raises:
        TransitionError: unknown action, or not allowed from the case's status.
        ActionRefusedError: the action's own rule refuses it (missing note, late return …).
    """
    action = ACTIONS.get(action_name)
    if action is None:
        raise TransitionError(f"unknown action {action_name!r}")
    if case.status not in action.sources:
        raise TransitionError(f"cannot {action_name} a case that is {case.status.value}")
    if action.needs_note and not note.strip():
        raise ActionRefusedError(f"{action_name} needs a reason or text")
    for guard in action.guards:
        refusal = guard(case, context)
        if refusal:
            raise ActionRefusedError(refusal)

    before = case.status
    target = _previous_status(case) if action_name == "unmerge" else action.target
    _APPLY.get(action_name, _no_change)(case, context, note)
    if target is not None:
        case.status = target
    event = CaseEvent(
        case=case,
        action=action_name,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        at=context.now,
        from_status=before,
        to_status=case.status,
        note=storable(note).strip(),
        visible_to_resident=action.visible if visible is None else visible,
        data=_json_safe(context.data),
    )
    case.updated_at = context.now
    return event


def _no_change(case: Case, context: ActionContext, note: str) -> None:
    return None


def _apply_dispatch(case: Case, context: ActionContext, note: str) -> None:
    case.dispatched_at = context.now
    case.signed_at = None


def _apply_sign(case: Case, context: ActionContext, note: str) -> None:
    case.signed_at = context.now


def _apply_return(case: Case, context: ActionContext, note: str) -> None:
    case.return_count += 1
    case.reason = note.strip()
    case.dispatched_at = None


def _apply_pause(case: Case, context: ActionContext, note: str) -> None:
    case.paused_at = context.now


def _apply_resume(case: Case, context: ActionContext, note: str) -> None:
    if case.paused_at is None or case.due_at is None:
        return
    moved = context.clock.resume(_deadline_of(case), case.paused_at, context.now, case.handling)
    case.paused_seconds += int((context.now - case.paused_at).total_seconds())
    case.paused_at = None
    set_deadline(case, moved, context.now)


def _apply_escalate(case: Case, context: ActionContext, note: str) -> None:
    case.escalation_count += 1


def _apply_resolve(case: Case, context: ActionContext, note: str) -> None:
    case.resolved_at = context.now
    case.result_text = note.strip()


def _apply_reopen(case: Case, context: ActionContext, note: str) -> None:
    case.reopen_count += 1
    case.resolved_at = None
    case.closed_at = None
    # 重办 gets a fresh promise: the working days given by the caller (15 by county practice).
    days = context.data.get("working_days", 15)
    case.handling = HandlingKind.PROMISED
    deadline = context.clock.deadline(context.now, HandlingKind.PROMISED, working_days=days)
    set_deadline(case, deadline, context.now)


def _apply_close(case: Case, context: ActionContext, note: str) -> None:
    case.closed_at = context.now


def _apply_reject(case: Case, context: ActionContext, note: str) -> None:
    case.reason = note.strip()
    case.closed_at = context.now


def _apply_merge(case: Case, context: ActionContext, note: str) -> None:
    case.duplicate_of_id = int(context.data["duplicate_of_id"])
    case.reason = note.strip()
    case.closed_at = context.now


def _apply_unmerge(case: Case, context: ActionContext, note: str) -> None:
    case.duplicate_of_id = None
    case.closed_at = None


def _apply_approve_extension(case: Case, context: ActionContext, note: str) -> None:
    days = int(pending_extension(case)["days"])  # the guard checked there is one
    moved = context.clock.extend(case.received_at, _deadline_of(case), days)
    case.extension_days += days
    set_deadline(case, moved, context.now)


_APPLY: dict[str, Callable[[Case, ActionContext, str], None]] = {
    "dispatch": _apply_dispatch,
    "sign": _apply_sign,
    "return": _apply_return,
    "request_materials": _apply_pause,
    "receive_materials": _apply_resume,
    "escalate": _apply_escalate,
    "resolve": _apply_resolve,
    "reopen": _apply_reopen,
    "close": _apply_close,
    "reject": _apply_reject,
    "merge": _apply_merge,
    "unmerge": _apply_unmerge,
    "approve_extension": _apply_approve_extension,
}


def pending_extension(case: Case) -> dict[str, Any]:
    """The latest extension request not yet approved or denied, as its event data ({} if none)."""
    for event in reversed(case.events):
        if event.action in {"approve_extension", "deny_extension"}:
            return {}
        if event.action == "request_extension":
            return dict(event.data)
    return {}


def _previous_status(case: Case) -> CaseStatus:
    for event in reversed(case.events):
        if event.action == "merge" and event.from_status is not None:
            return event.from_status
    raise ActionRefusedError("no merge to undo in this case's history")


def _deadline_of(case: Case) -> Deadline:
    assert case.due_at is not None
    return Deadline(case.due_at, case.yellow_at or case.due_at, case.orange_at or case.due_at)


def set_deadline(case: Case, deadline: Deadline, now: dt.datetime) -> None:
    """Store a deadline, its warning thresholds and the level they give at `now`."""
    case.due_at, case.yellow_at, case.orange_at = (
        deadline.due_at,
        deadline.yellow_at,
        deadline.orange_at,
    )
    case.warning_level = warning_level(now, case.due_at, case.yellow_at, case.orange_at)


def _json_safe(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, dt.datetime | dt.date) else value
        for key, value in data.items()
    }
