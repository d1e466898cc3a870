"""Who may see and act on which cases: an agent's scope is an area or a department.

- admin and county supervisor: the whole county;
- town worker: every case in the town (its area path);
- village proxy agent: cases in the village and its grids;
- department handler: cases owned by the department (and, for a town office, nothing else).

Personal data (phone numbers, names, ID numbers) is shown only within scope; elsewhere it is
masked. Every query that lists cases for an agent goes through `case_scope`.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from cases.models import Agent, Area, Case
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
