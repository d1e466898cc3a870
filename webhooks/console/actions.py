"""Carrying out an agent's action on a case: the lifecycle, plus what the console adds to it.

Each function takes the case loaded in the request's session and the validated form, appends
the case event(s), and leaves the commit to the view. The lifecycle's errors
(`TransitionError`, `ActionRefusedError`) and routing errors pass through to the view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.access import dispatch_targets
from cases.duplicates import surviving_case
from cases.exceptions import ActionRefusedError, NotFoundError
from cases.lifecycle import ACTIONS, ActionContext, Actor, perform
from cases.models import Agent, Case, CaseEvent, Department, NluCorrection
from cases.models.cases import CaseStatus
from cases.service import dispatch_case, escalate_case, reclassify_case
from intents.catalog import catalog

# Console actions that are not rows of the lifecycle table: they record a note event.
PSEUDO_ACTIONS = {"confirm_merge": "unmerge", "dismiss_duplicate": "merge"}


@dataclass(frozen=True)
class Request:
    """What the agent asked for, from the form."""

    action: str
    note: str = ""
    item_code: str = ""
    department_id: int | None = None
    assignee_id: int | None = None
    days: int | None = None
    duplicate_of: Case | None = None


def carry_out(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    """Perform the request on the case and return its (last) event.

    Raises:
        TransitionError: the lifecycle does not allow the action now.
        ActionRefusedError: a rule refuses it (missing text, late return, unknown unit …).
        RoutingError: no unit above or for the case.
    """
    handler = _HANDLERS.get(request.action, _plain)
    action = ACTIONS.get(request.action)
    if action is not None and action.needs_note and not request.note.strip():
        raise ActionRefusedError(f"{request.action} needs a reason or text")
    return handler(session, case, agent, actor, request, context)


def _plain(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    event = perform(case, request.action, actor, context, note=request.note)
    session.add(event)
    if request.action in {"accept", "reject"}:
        case.needs_review = False
    return event


def _reclassify(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    """改分类: a new item; before dispatch the case is routed and timed again for it.

    A bot-classified case's text and both intents are kept as a training example for the next
    NLU run (`nlu_corrections`).
    """
    try:
        item = catalog().item(request.item_code)
    except KeyError:
        raise ActionRefusedError("choose a catalog item to reclassify to") from None
    old = case.item_code
    if item.code == old:
        raise ActionRefusedError("the case already has that item")
    event = reclassify_case(session, case, item.code, actor, context, note=request.note)
    if case.confidence is not None:
        session.add(
            NluCorrection(
                case_id=case.id,
                agent_id=agent.id,
                text=case.description,
                old_intent=old,
                new_intent=item.code,
                created_at=context.now,
            )
        )
    return event


def _dispatch(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    """交办 to a unit the agent may dispatch to, and optionally one of its agents."""
    unit = session.scalars(
        select(Department).where(
            Department.id == (request.department_id or 0), dispatch_targets(session, agent)
        )
    ).first()
    if unit is None:
        raise ActionRefusedError("choose a unit you may dispatch to")
    assignee = None
    if request.assignee_id:
        assignee = session.get(Agent, request.assignee_id)
        if assignee is None or assignee.department_id != unit.id or not assignee.active:
            raise ActionRefusedError("the agent does not work for that unit")
    return dispatch_case(
        session, case, actor, context, unit, assignee.id if assignee else None, note=request.note
    )


def _sign(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    """签收: the unit takes the case; the signing agent holds it unless someone was named."""
    event = _plain(session, case, agent, actor, request, context)
    if case.assignee_id is None:
        case.assignee_id = agent.id
    return event


def _escalate(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    return escalate_case(session, case, actor, context, note=request.note)


def _extension(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    data = {**context.data, "days": request.days}
    event = perform(
        case,
        request.action,
        actor,
        ActionContext(context.now, context.clock, data),
        note=request.note,
    )
    session.add(event)
    return event


def _resolve(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    """办结: the resident is told the result (and asked to rate) by `worker.notify`."""
    return _plain(session, case, agent, actor, request, context)


def _message(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    """A message to the resident, recorded on the case; `worker.notify` sends it."""
    if case.contact_id is None:
        raise ActionRefusedError("this case has no resident contact to message")
    return _plain(session, case, agent, actor, request, context)


def _merge(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    """Merge into the surviving case the agent named (a bot's suggestion, or another)."""
    target = request.duplicate_of
    if target is None and case.duplicate_of_id is not None:
        target = session.get(Case, case.duplicate_of_id)
    if target is None:
        raise NotFoundError("no case with that number: a merge names the surviving case")
    # A case merged since it was named: merge into the one still being handled.
    target = surviving_case(session, target)
    if target.id == case.id:
        raise ActionRefusedError("that case was merged into this one: merge the other way round")
    data = {**context.data, "duplicate_of_id": target.id, "duplicate_of": target.number}
    event = perform(
        case, "merge", actor, ActionContext(context.now, context.clock, data), note=request.note
    )
    session.add(event)
    return event


def _confirm_merge(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    """An agent agrees with a merge the bot made; recorded as a note on the merged case."""
    if case.status is not CaseStatus.MERGED:
        raise ActionRefusedError("no merge to confirm")
    data = {**context.data, "merge": "confirmed"}
    note = request.note.strip() or "确认合并 / merge confirmed"
    event = perform(case, "note", actor, ActionContext(context.now, context.clock, data), note=note)
    session.add(event)
    return event


def _dismiss_duplicate(
    session: Session,
    case: Case,
    agent: Agent,
    actor: Actor,
    request: Request,
    context: ActionContext,
) -> CaseEvent:
    """Not a duplicate after all: the suspicion is cleared and the reason noted."""
    if case.duplicate_of_id is None or case.status is CaseStatus.MERGED:
        raise ActionRefusedError("no suspected duplicate to dismiss")
    data = {**context.data, "merge": "dismissed", "duplicate_of_id": case.duplicate_of_id}
    note = request.note.strip() or "不是重复件 / not a duplicate"
    event = perform(case, "note", actor, ActionContext(context.now, context.clock, data), note=note)
    session.add(event)
    case.duplicate_of_id = None
    return event


Handler = Callable[[Session, Case, Agent, Actor, Request, ActionContext], CaseEvent]
# Actions with more to do than `_plain` (perform and record); every other action uses it.
_HANDLERS: dict[str, Handler] = {
    "reclassify": _reclassify,
    "dispatch": _dispatch,
    "sign": _sign,
    "escalate": _escalate,
    "request_extension": _extension,
    "resolve": _resolve,
    "message": _message,
    "merge": _merge,
    "confirm_merge": _confirm_merge,
    "dismiss_duplicate": _dismiss_duplicate,
}
