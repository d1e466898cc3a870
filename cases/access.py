"""Who may see and act on which cases: an agent's scope is an area or a department.

- admin and county supervisor: the whole county;
- town worker: every case in the town (its area path);
- village proxy agent: cases in the village and its grids;
- department handler: cases owned by the department (and, for a town office, nothing else).

Personal data (phone numbers, names, ID numbers) is shown only within scope; elsewhere it is
masked. Every query that lists cases for an agent goes through `case_scope`; conversations go
through `conversation_scope` and their messages through `message_scope`, so a resident's
conversation about two towns' cases shows each town only its own part.

Within scope, what an agent may *do* depends on the role (`ROLE_ACTIONS`) and, for the work of
the unit holding the case (签收, 退单, 补办, 办结, 延期, 上报), on working for that unit
(`acts_for_unit`). `console_actions` combines both with the lifecycle; the console offers those
and refuses any other.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session, aliased

from cases.lifecycle import allowed_actions, pending_extension
from cases.models import Agent, Area, Case, Contact, Conversation, Department, Message
from cases.models.directory import AgentRole

COUNTY_WIDE = frozenset({AgentRole.ADMIN, AgentRole.COUNTY_SUPERVISOR})


def case_scope(session: Session, agent: Agent) -> ColumnElement[bool]:
    """A WHERE condition on `Case` selecting the cases this agent may see."""
    if not agent.active:
        return false()
    if agent.role in COUNTY_WIDE:
        return true()
    conditions: list[ColumnElement[bool]] = []
    if agent.department_id is not None:
        conditions.append(Case.department_id == agent.department_id)
    if agent.role in {AgentRole.TOWN_WORKER, AgentRole.VILLAGE_PROXY} and agent.area_id is not None:
        area = session.get(Area, agent.area_id)
        if area is not None:
            inside = select(Area.id).where(Area.path.startswith(area.path))
            conditions.append(and_(Case.area_id.is_not(None), Case.area_id.in_(inside)))
    return or_(*conditions) if conditions else false()


def can_see(session: Session, agent: Agent, case: Case) -> bool:
    """True when `case` is within the agent's scope."""
    if not agent.active:
        return False
    if agent.role in COUNTY_WIDE:
        return True
    if agent.department_id is not None and case.department_id == agent.department_id:
        return True
    if agent.role in {AgentRole.TOWN_WORKER, AgentRole.VILLAGE_PROXY} and agent.area_id:
        scope_area = session.get(Area, agent.area_id)
        case_area = session.get(Area, case.area_id) if case.area_id else None
        return bool(scope_area and case_area and scope_area.covers(case_area))
    return False


# The lifecycle says *when* an action may be taken; this table says *who* may take it from the
# console. Actions done by the bot or jobs only (create, rate, close, reopen, warn, assign) are
# in no role's set.
INTAKE_ACTIONS = frozenset({"accept", "reclassify", "note", "message"})
UNIT_ACTIONS = frozenset(
    {"sign", "return", "request_materials", "receive_materials", "resolve", "request_extension"}
)
CONSOLE_ACTIONS = (
    INTAKE_ACTIONS
    | UNIT_ACTIONS
    | {"reject", "dispatch", "escalate", "merge", "unmerge", "remind", "supervise"}
    | {"approve_extension", "deny_extension"}
)
ROLE_ACTIONS: dict[AgentRole, frozenset[str]] = {
    AgentRole.VILLAGE_PROXY: INTAKE_ACTIONS | UNIT_ACTIONS | {"escalate"},
    AgentRole.TOWN_WORKER: INTAKE_ACTIONS
    | UNIT_ACTIONS
    | {"escalate", "reject", "dispatch", "merge", "unmerge", "remind"},
    AgentRole.DEPARTMENT_HANDLER: UNIT_ACTIONS | {"escalate", "note", "message"},
    AgentRole.COUNTY_SUPERVISOR: CONSOLE_ACTIONS,
    AgentRole.ADMIN: CONSOLE_ACTIONS,
}
# Actions that only the unit holding the case (or the county) may take: 签收, 退单, 补办, 办结,
# 延期申请, 上报. A proxy agent cannot sign for a case a county bureau holds, though it is
# the proxy's village's case.
OWNING_UNIT_ACTIONS = UNIT_ACTIONS | {"escalate"}
# Roles that register walk-in and patrol cases only inside their own area.
AREA_BOUND_ROLES = frozenset({AgentRole.VILLAGE_PROXY, AgentRole.TOWN_WORKER})


def acts_for_unit(session: Session, agent: Agent, case: Case) -> bool:
    """True when the agent works for the unit that holds the case.

    County-wide roles act for every unit; an agent for its own department; a town worker for
    the town's offices and the village committees of the town.
    """
    if agent.role in COUNTY_WIDE:
        return True
    if case.department_id is None:
        return False
    if agent.department_id == case.department_id:
        return True
    if agent.role is AgentRole.TOWN_WORKER and agent.area_id is not None:
        unit = session.get(Department, case.department_id)
        town = session.get(Area, agent.area_id)
        unit_area = session.get(Area, unit.area_id) if unit else None
        return bool(town and unit_area and town.covers(unit_area))
    return False


def may_act(session: Session, agent: Agent, case: Case, action: str) -> bool:
    """Whether the agent's role and scope allow `action` on `case` (the status aside)."""
    if action not in ROLE_ACTIONS.get(agent.role, frozenset()):
        return False
    if not can_see(session, agent, case):
        return False
    return action not in OWNING_UNIT_ACTIONS or acts_for_unit(session, agent, case)


def console_actions(session: Session, agent: Agent, case: Case) -> list[str]:
    """The actions to offer on the case page: allowed by the lifecycle now and by `may_act`.

    批准延期 / 驳回延期 are offered only while an extension request waits for a decision
    (the lifecycle's guard would refuse them otherwise).
    """
    offered = [action for action in allowed_actions(case) if may_act(session, agent, case, action)]
    if not pending_extension(case):
        offered = [action for action in offered if action not in EXTENSION_DECISIONS]
    return offered


EXTENSION_DECISIONS = frozenset({"approve_extension", "deny_extension"})


def sees_personal_data(session: Session, agent: Agent, case: Case) -> bool:
    """Full phone numbers, names and ID numbers of the case's resident: only within scope."""
    return can_see(session, agent, case)


def may_register(session: Session, agent: Agent, area: Area | None) -> bool:
    """Whether the agent may open a walk-in or patrol case for a resident of `area`.

    Proxy agents and town workers register inside their own area; department handlers, at
    their unit's window, and county-wide roles register anywhere.
    """
    if not agent.active:
        return False
    if agent.role not in AREA_BOUND_ROLES:
        return True
    own = session.get(Area, agent.area_id) if agent.area_id else None
    return bool(own and area and own.covers(area))


def dispatch_targets(session: Session, agent: Agent) -> ColumnElement[bool]:
    """A WHERE condition on `Department`: the units this agent may dispatch (交办) to."""
    if agent.role in COUNTY_WIDE:
        return Department.active.is_(True)
    if agent.role is AgentRole.TOWN_WORKER and agent.area_id is not None:
        town = session.get(Area, agent.area_id)
        if town is not None:
            inside = select(Area.id).where(Area.path.startswith(town.path))
            return and_(Department.active.is_(True), Department.area_id.in_(inside))
    return false()


def conversation_scope(session: Session, agent: Agent) -> ColumnElement[bool]:
    """A WHERE condition on `Conversation`: the conversations this agent may read and answer.

    County-wide roles see all. Others see a conversation when at least one of its cases (a case
    it opened, or a case one of its messages is tied to) is in their scope. A conversation with
    no case at all (a hand-off before anything was registered) is seen by the proxy agents and
    town workers of the area where the resident lives. What the agent then reads of it is
    `message_scope`.
    """
    if not agent.active:
        return false()
    if agent.role in COUNTY_WIDE:
        return true()
    scope = case_scope(session, agent)
    opened = select(Case.conversation_id).where(Case.conversation_id.is_not(None), scope)
    tied = (
        select(Message.conversation_id)
        .join(Case, Case.id == Message.case_id)
        .where(Message.conversation_id.is_not(None), scope)
    )
    conditions: list[ColumnElement[bool]] = [
        Conversation.id.in_(opened),
        Conversation.id.in_(tied),
    ]
    area = session.get(Area, agent.area_id) if agent.area_id else None
    if agent.role in AREA_BOUND_ROLES and area is not None:
        inside = select(Area.id).where(Area.path.startswith(area.path))
        residents = select(Contact.id).where(Contact.area_id.in_(inside))
        conditions.append(and_(Conversation.contact_id.in_(residents), ~_has_case()))
    return or_(*conditions)


def message_scope(session: Session, agent: Agent) -> ColumnElement[bool]:
    """A WHERE condition on `Message`: what of a readable conversation the agent may read.

    Messages tied to a case in the agent's scope, and messages tied to no case (greetings,
    questions, the dialogue before a case was opened) when every case of the conversation is in
    the agent's scope: an untied message may speak of any of them (a 低保 application in one
    town, "我的案件" listing another town's case). Callers first restrict the messages to
    a conversation in `conversation_scope`, or to the conversation of a case the agent sees:
    so the untied messages are shown only to agents who see at least one case of the
    conversation (or, for a conversation without any case, live-in-area agents). Messages
    about another town's case stay with that town.
    """
    if not agent.active:
        return false()
    if agent.role in COUNTY_WIDE:
        return true()
    visible = select(Case.id).where(case_scope(session, agent))
    # Untied messages (greetings, the questions before a case opened, "我的案件" answers) may
    # speak of any case of the conversation: shown only when the agent sees all of them.
    other = aliased(Message)
    hidden_case = or_(
        exists().where(Case.conversation_id == Message.conversation_id, Case.id.not_in(visible)),
        exists().where(
            other.conversation_id == Message.conversation_id,
            other.case_id.is_not(None),
            other.case_id.not_in(visible),
        ),
    )
    return or_(Message.case_id.in_(visible), and_(Message.case_id.is_(None), ~hidden_case))


def _has_case() -> ColumnElement[bool]:
    """The conversation opened a case, or one of its messages is tied to a case."""
    opened = exists().where(Case.conversation_id == Conversation.id)
    tied = exists().where(Message.conversation_id == Conversation.id, Message.case_id.is_not(None))
    return or_(opened, tied)


def may_manage_agents(agent: Agent) -> bool:
    """Only administrators create, change and unlock agent accounts."""
    return agent.active and agent.role is AgentRole.ADMIN
