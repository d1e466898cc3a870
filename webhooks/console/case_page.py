"""The case page: transcript, timeline, contact, materials, deadline, and the agent's actions."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from cases.access import (
    console_actions,
    dispatch_targets,
    may_act,
    message_scope,
    sees_personal_data,
)
from cases.console_queries import find_case, transcript
from cases.duplicates import suspicion
from cases.exceptions import CasesError, TransitionError
from cases.lifecycle import ActionContext
from cases.models import Agent, Area, Case, Contact, Department
from cases.models.cases import CaseStatus
from intents.catalog import catalog
from webhooks.auth import current_agent, login_required, now
from webhooks.console.actions import PSEUDO_ACTIONS, Request, carry_out
from webhooks.console.forms import ActionForm
from webhooks.console.helpers import actor_for, load_case, refusal_message
from webhooks.console.labels import ACTIONS, label
from webhooks.extensions import get_db, services

bp = Blueprint("case", __name__, url_prefix="/console/cases")


@bp.get("/<number>")
@login_required
def show(number: str) -> ResponseReturnValue:
    """Everything about one case, and the actions this agent may take now."""
    case = load_case(number)
    return render_template("console/case.html", **case_page_context(case, ActionForm()))


@bp.post("/<number>/act")
@login_required
def act(number: str) -> ResponseReturnValue:
    """Carry out one action; refused actions answer 400/409 with a clear message."""
    form = ActionForm()
    if not form.validate_on_submit():
        case = load_case(number)
        flash(_("The form was incomplete or has expired; please try again."), "error")
        return render_template("console/case.html", **case_page_context(case, form)), 400
    action = form.action.data or ""
    case = load_case(number, PSEUDO_ACTIONS.get(action, action))
    if form.version.data != case.version:
        return _stale(case, form)
    db = get_db()
    agent = current_agent()
    duplicate_of = find_case(db, form.duplicate_of.data or "") if form.duplicate_of.data else None
    request = Request(
        action=action,
        note=form.note.data or "",
        item_code=form.item_code.data or "",
        department_id=form.department_id.data,
        assignee_id=form.assignee_id.data,
        days=form.days.data,
        duplicate_of=duplicate_of,
    )
    context = ActionContext(now=now(), clock=services().clock)
    try:
        carry_out(db, case, agent, actor_for(agent), request, context)
        db.commit()
    except StaleDataError:
        db.rollback()
        return _stale(load_case(number), form)
    except CasesError as error:
        db.rollback()
        status = 409 if isinstance(error, TransitionError) else 400
        flash(refusal_message(error, case), "error")
        return render_template("console/case.html", **case_page_context(case, form)), status
    flash(_("Done: %(action)s.", action=label(ACTIONS, action)), "ok")
    return redirect(url_for("case.show", number=case.number))


@bp.get("/<number>/slip")
@login_required
def slip(number: str) -> ResponseReturnValue:
    """The printable two-part slip (两单制): 存根联 kept by the office, 回执联 for the resident."""
    case = load_case(number)
    db = get_db()
    contact = db.get(Contact, case.contact_id) if case.contact_id else None
    agent = db.get(Agent, case.created_by_agent_id) if case.created_by_agent_id else None
    return render_template(
        "console/slip.html",
        case=case,
        item=_catalog_item(case.item_code),
        contact=contact,
        agent=agent or current_agent(),
        unit=db.get(Department, case.department_id) if case.department_id else None,
        area=db.get(Area, case.area_id) if case.area_id else None,
    )


def case_page_context(case: Case, form: ActionForm) -> dict[str, object]:
    """What the case template shows (also used to re-show the page after a refusal)."""
    db = get_db()
    agent = current_agent()
    actions = console_actions(db, agent, case)
    if case.status is CaseStatus.MERGED and "unmerge" in actions:
        actions.append("confirm_merge")
    if case.duplicate_of_id and case.status is not CaseStatus.MERGED and "merge" in actions:
        actions.append("dismiss_duplicate")
    units = _dispatch_units(agent) if "dispatch" in actions else []
    return {
        "case": case,
        "form": form,
        "actions": actions,
        "item": _catalog_item(case.item_code),
        "contact": db.get(Contact, case.contact_id) if case.contact_id else None,
        "personal": sees_personal_data(db, agent, case),
        "area": db.get(Area, case.area_id) if case.area_id else None,
        "unit": db.get(Department, case.department_id) if case.department_id else None,
        "assignee": db.get(Agent, case.assignee_id) if case.assignee_id else None,
        "duplicate_of": db.get(Case, case.duplicate_of_id) if case.duplicate_of_id else None,
        "duplicate_suspicion": suspicion(case) if case.status is not CaseStatus.MERGED else None,
        "messages": transcript(db, case, message_scope(db, agent)),
        "event_units": _event_units(case),
        "units": units,
        "unit_agents": _unit_agents(units),
        "items": catalog().items if "reclassify" in actions else (),
        "can_note": may_act(db, agent, case, "note"),
    }


def _stale(case: Case, form: ActionForm) -> ResponseReturnValue:
    flash(
        _(
            "Someone changed this case while you were looking at it. "
            "The page now shows the current state; please check it and try again."
        ),
        "error",
    )
    return render_template("console/case.html", **case_page_context(case, ActionForm())), 409


def _dispatch_units(agent: Agent) -> list[Department]:
    db = get_db()
    return list(
        db.scalars(
            select(Department)
            .where(dispatch_targets(db, agent))
            .order_by(Department.level, Department.id)
        )
    )


def _unit_agents(units: list[Department]) -> dict[int, list[Agent]]:
    """The active agents of each unit the case may be dispatched to, for the assignee choice."""
    if not units:
        return {}
    agents = get_db().scalars(
        select(Agent)
        .where(Agent.department_id.in_([u.id for u in units]), Agent.active.is_(True))
        .order_by(Agent.department_id, Agent.id)
    )
    grouped: dict[int, list[Agent]] = {}
    for agent in agents:
        if agent.department_id is not None:
            grouped.setdefault(agent.department_id, []).append(agent)
    return grouped


def _event_units(case: Case) -> dict[str, Department]:
    """The units the timeline names by code (交办 to, 上报 from and to), by code."""
    codes = {
        str(event.data[key])
        for event in case.events
        for key in ("to_unit", "from_unit")
        if event.data.get(key)
    }
    if not codes:
        return {}
    found = get_db().scalars(select(Department).where(Department.code.in_(codes)))
    return {unit.code: unit for unit in found}


def _catalog_item(code: str) -> object:
    try:
        return catalog().item(code)
    except KeyError:
        return None
