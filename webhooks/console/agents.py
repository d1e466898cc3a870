"""Administration of agent accounts: create, change role and scope, reset password, unlock."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from cases.access import may_manage_agents
from cases.models import Agent, Area, Department
from cases.models.directory import AgentRole
from webhooks.auth import current_agent, login_required
from webhooks.console.forms import AgentForm, choices
from webhooks.console.labels import ROLES, label
from webhooks.extensions import get_db

bp = Blueprint("agents", __name__, url_prefix="/console/agents")


def require_admin() -> None:
    """403 for anyone but an administrator."""
    if not may_manage_agents(current_agent()):
        abort(403)


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    """Every account, by role."""
    require_admin()
    agents = get_db().scalars(select(Agent).order_by(Agent.role, Agent.username))
    return render_template("console/agents.html", agents=list(agents))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create() -> ResponseReturnValue:
    """A new account; it needs a password."""
    require_admin()
    form = _form(Agent(role=AgentRole.VILLAGE_PROXY, username="", display_name=""))
    if form.validate_on_submit():
        if not form.password.data:
            form.password.errors = [_("A new account needs a password.")]
        elif _taken(form.username.data or ""):
            form.username.errors = [_("That username is taken.")]
        else:
            agent = Agent(username="", display_name="", role=AgentRole.VILLAGE_PROXY)
            _apply(form, agent)
            get_db().add(agent)
            get_db().commit()
            flash(_("Account %(name)s created.", name=agent.username), "ok")
            return redirect(url_for("agents.index"))
    return render_template("console/agent_form.html", form=form, agent=None), (
        400 if form.is_submitted() else 200
    )


@bp.route("/<int:agent_id>", methods=["GET", "POST"])
@login_required
def edit(agent_id: int) -> ResponseReturnValue:
    """Change an account; a new password or an unlock takes effect at once."""
    require_admin()
    agent = get_db().get(Agent, agent_id)
    if agent is None:
        abort(404)
    form = _form(agent)
    if form.validate_on_submit():
        if (form.username.data or "").lower() != agent.username.lower() and _taken(
            form.username.data or ""
        ):
            form.username.errors = [_("That username is taken.")]
        else:
            _apply(form, agent)
            get_db().commit()
            flash(_("Account %(name)s saved.", name=agent.username), "ok")
            return redirect(url_for("agents.index"))
    return render_template("console/agent_form.html", form=form, agent=agent), (
        400 if form.is_submitted() else 200
    )


def _form(agent: Agent) -> AgentForm:
    db = get_db()
    form = AgentForm(obj=agent) if agent.username else AgentForm()
    form.role.choices = choices((role.value, label(ROLES, role)) for role in AgentRole)
    areas = db.scalars(select(Area).order_by(Area.path))
    units = db.scalars(select(Department).order_by(Department.id))
    form.area_id.choices = choices([(0, "—"), *((area.id, area.name) for area in areas)])
    form.department_id.choices = choices([(0, "—"), *((unit.id, unit.name) for unit in units)])
    if not form.is_submitted():
        form.role.data = agent.role.value
        form.area_id.data = agent.area_id or 0
        form.department_id.data = agent.department_id or 0
        form.password.data = ""
    return form


def _apply(form: AgentForm, agent: Agent) -> None:
    agent.username = (form.username.data or "").strip()
    agent.display_name = (form.display_name.data or "").strip()
    agent.role = AgentRole(form.role.data)
    agent.area_id = form.area_id.data or None
    agent.department_id = form.department_id.data or None
    agent.phone = (form.phone.data or "").strip()
    agent.language = form.language.data or "zh"
    agent.active = bool(form.active.data)
    if form.password.data:
        agent.password_hash = generate_password_hash(form.password.data)
        agent.is_demo = False
    if form.unlock.data or form.password.data:
        agent.failed_logins = 0
        agent.locked_until = None


def _taken(username: str) -> bool:
    found = get_db().scalar(
        select(Agent.id).where(func.lower(Agent.username) == username.strip().lower())
    )
    return found is not None
