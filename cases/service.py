"""Operations on cases that combine the lifecycle with routing and the clock.

Callers (views, jobs, commands) pass the session and commit; nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cases.clock import Clock
from cases.duplicates import check_new_case
from cases.exceptions import NotFoundError
from cases.lifecycle import BOT, ActionContext, Actor, perform, set_deadline
from cases.models import Area, Case, Department
from cases.models.cases import CaseEvent, CaseKind, CaseStatus, HandlingKind
from cases.models.messaging import Channel
from cases.numbers import allocate_case_number
from cases.routing import escalation_target, route_case
from cases.text import storable
from intents.catalog import CatalogItem, catalog
from intents.taxonomy import taxonomy

# Below this confidence a bot-created case waits in `new` for an agent to review it.
DEFAULT_REVIEW_THRESHOLD = 0.6


@dataclass(frozen=True)
class Intake:
    """What is known when a case is opened."""

    item_code: str
    description: str
    channel: Channel
    area_id: int | None = None
    contact_id: int | None = None
    conversation_id: int | None = None
    confidence: float | None = None  # the bot's; None when an agent registered it
    urgent: bool = False
    summary: str = ""


def open_case(
    session: Session,
    intake: Intake,
    *,
    now: dt.datetime,
    clock: Clock,
    actor: Actor = BOT,
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
) -> Case:
    """Create a case: number, routing, deadline, and its first events.

    A case the bot is sure of, or one an agent registers, is accepted at once (已受理); a
    low-confidence bot case, or one whose place is unknown, stays `new` with needs_review set.
    A concern that looks like an open case nearby is marked as a possible duplicate
    (`cases.duplicates`); it is routed and timed all the same.

    Raises:
        NotFoundError: unknown item code or area.
        RoutingError: the directory has no unit for it.
    """
    item = _item(intake.item_code)
    area = session.get(Area, intake.area_id) if intake.area_id is not None else None
    if intake.area_id is not None and area is None:
        raise NotFoundError(f"no area with id {intake.area_id}")
    route = route_case(session, item, area)
    local_day = now.astimezone(clock.hours.zone).date()
    unsure = intake.confidence is not None and intake.confidence < review_threshold
    case = Case(
        number=allocate_case_number(session, local_day),
        item_code=item.code,
        category_code=item.category,
        kind=CaseKind(item.kind),
        handling=HandlingKind.URGENT
        if intake.urgent and item.urgent_hours
        else HandlingKind(item.handling),
        channel=intake.channel,
        summary=storable(intake.summary or intake.description)[:200],
        description=storable(intake.description),
        area_id=area.id if area else None,
        town_id=route.town.id if route.town else None,
        department_id=route.department.id,
        contact_id=intake.contact_id,
        conversation_id=intake.conversation_id,
        created_by_agent_id=actor.id if actor.type.value == "agent" else None,
        confidence=intake.confidence,
        needs_review=unsure or route.needs_review,
        urgent=intake.urgent,
        received_at=now,
        created_at=now,
        updated_at=now,
    )
    hours = item.urgent_hours if case.handling is HandlingKind.URGENT else item.time_limit.hours
    deadline = clock.deadline(
        now, case.handling, working_days=item.time_limit.working_days, hours=hours
    )
    set_deadline(case, deadline, now)
    session.add(case)
    context = ActionContext(now=now, clock=clock, data={"unit": route.department.code})
    session.add(perform(case, "create", actor, context, note=""))
    if not case.needs_review:
        session.add(perform(case, "accept", actor, ActionContext(now=now, clock=clock)))
    session.flush()
    # A concern like an open one nearby is marked as a possible duplicate (never fails).
    check_new_case(session, case, now=now, clock=clock)
    return case


def escalate_case(
    session: Session, case: Case, actor: Actor, context: ActionContext, note: str = ""
) -> CaseEvent:
    """上报: move the case to the unit one level up and record from where to where."""
    unit = session.get(Department, case.department_id) if case.department_id else None
    if unit is None:
        raise NotFoundError(f"case {case.number} has no owning unit")
    town = session.get(Area, case.town_id) if case.town_id else None
    target = escalation_target(session, unit, _item(case.item_code), town)
    data = {**context.data, "from_unit": unit.code, "to_unit": target.code}
    event = perform(
        case, "escalate", actor, ActionContext(context.now, context.clock, data), note=note
    )
    case.department_id = target.id
    case.assignee_id = None
    session.add(event)
    return event


def dispatch_case(
    session: Session,
    case: Case,
    actor: Actor,
    context: ActionContext,
    department: Department,
    assignee_id: int | None = None,
    note: str = "",
) -> CaseEvent:
    """交办: send the case to a unit (and optionally a named agent), waiting for 签收."""
    data = {**context.data, "to_unit": department.code, "assignee_id": assignee_id}
    event = perform(
        case, "dispatch", actor, ActionContext(context.now, context.clock, data), note=note
    )
    case.department_id = department.id
    case.assignee_id = assignee_id
    session.add(event)
    return event


def reclassify_case(
    session: Session,
    case: Case,
    item_code: str,
    actor: Actor,
    context: ActionContext,
    note: str = "",
) -> CaseEvent:
    """改分类: give the case another catalog item, keeping the old one in the event.

    Before dispatch (new or accepted) the case is also routed and timed again for the new
    item; afterwards the unit that has it keeps it and only the classification changes.

    Raises:
        NotFoundError: unknown item code.
    """
    item = _item(item_code)
    data = {**context.data, "from_item": case.item_code, "to_item": item.code}
    event = perform(
        case, "reclassify", actor, ActionContext(context.now, context.clock, data), note=note
    )
    session.add(event)
    case.item_code, case.category_code, case.kind = item.code, item.category, CaseKind(item.kind)
    if case.status in {CaseStatus.NEW, CaseStatus.ACCEPTED}:
        area = session.get(Area, case.area_id) if case.area_id else None
        route = route_case(session, item, area)
        case.department_id = route.department.id
        case.town_id = route.town.id if route.town else case.town_id
        urgent = case.urgent and item.urgent_hours is not None
        case.handling = HandlingKind.URGENT if urgent else HandlingKind(item.handling)
        deadline = context.clock.deadline(
            case.received_at,
            case.handling,
            working_days=item.time_limit.working_days,
            hours=item.urgent_hours if urgent else item.time_limit.hours,
        )
        set_deadline(case, deadline, context.now)
    return event


def _item(code: str) -> CatalogItem:
    try:
        return catalog().item(code)
    except KeyError:
        raise NotFoundError(f"no catalog item {code!r}") from None


def category_name(code: str) -> str:
    """The Chinese name of a taxonomy category (for messages and reports)."""
    return next((c.zh for c in taxonomy().categories if c.code == code), code)
