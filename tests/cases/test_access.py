"""Who sees and does what: every role × every action, in and out of scope."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import access
from cases.clock import Clock
from cases.lifecycle import ACTIONS
from cases.models import Agent, Area, Case, Conversation, Department
from cases.models.cases import CaseStatus
from cases.models.directory import AgentRole
from cases.models.messaging import Channel
from tests.fixtures.console import bot_case, resident

UNIT = {"sign", "return", "request_materials", "receive_materials", "resolve", "request_extension"}
INTAKE = {"accept", "reclassify", "note", "message"}
EVERYTHING = (
    INTAKE
    | UNIT
    | {"escalate", "reject", "dispatch", "merge", "unmerge", "remind", "supervise"}
    | {"approve_extension", "deny_extension"}
)
TOWN = INTAKE | UNIT | {"escalate", "reject", "dispatch", "merge", "unmerge", "remind"}
HANDLER = UNIT | {"escalate", "note", "message"}

# A street-light case from 东门社区 grid 1, held by 城关城市管理中队 (a town unit of 城关镇):
# what each agent may do to it, written out by hand.
EXPECTED: dict[str, set[str]] = {
    "admin": EVERYTHING,
    "supervisor": EVERYTHING,
    "intake_desk": EVERYTHING,
    "town_chengguan": TOWN,  # the case's town: acts for the town's units
    "town_dongao": set(),  # another town: out of scope
    "proxy_dongmen": INTAKE,  # the resident's village, but not the unit holding the case
    "proxy_ximen": set(),  # another village of the same town
    "urban_officer": HANDLER,  # works for the unit holding the case
    "handler_urban": set(),  # the county bureau: the case is not (yet) its
}


@pytest.fixture
def street_light(demo_session: Session, clock: Clock) -> Case:
    """The case of the matrix, plus an officer of 城关城市管理中队."""
    unit = demo_session.scalars(
        select(Department).where(Department.code == "chengguan.urban")
    ).one()
    demo_session.add(
        Agent(
            username="urban_officer",
            display_name="陈队员",
            role=AgentRole.DEPARTMENT_HANDLER,
            department_id=unit.id,
            area_id=unit.area_id,
        )
    )
    demo_session.commit()
    case = bot_case(demo_session, clock)
    assert case.department_id == unit.id
    return case


def agent(session: Session, username: str) -> Agent:
    """A demo agent by username."""
    return session.scalars(select(Agent).where(Agent.username == username)).one()


def test_permission_matrix(demo_session: Session, street_light: Case) -> None:
    """Every role × every action (console and bot-only) is allowed exactly as the table says."""
    found = {
        username: {
            action
            for action in ACTIONS
            if access.may_act(demo_session, agent(demo_session, username), street_light, action)
        }
        for username in EXPECTED
    }
    assert found == EXPECTED


def test_scope_and_personal_data_agree(demo_session: Session, street_light: Case) -> None:
    """An agent who may act sees the case and its personal data; one out of scope neither."""
    for username, expected in EXPECTED.items():
        who = agent(demo_session, username)
        listed = demo_session.scalar(
            select(Case.id).where(Case.id == street_light.id, access.case_scope(demo_session, who))
        )
        seen = access.can_see(demo_session, who, street_light)
        assert seen == (listed is not None) == bool(expected), username
        assert access.sees_personal_data(demo_session, who, street_light) == seen


def test_console_actions_follow_the_lifecycle(demo_session: Session, street_light: Case) -> None:
    """On an accepted case the town worker is offered what the lifecycle allows of its set."""
    assert street_light.status is CaseStatus.ACCEPTED
    offered = set(
        access.console_actions(demo_session, agent(demo_session, "town_chengguan"), street_light)
    )
    assert offered == {
        "reject",
        "dispatch",
        "request_materials",
        "escalate",
        "resolve",
        "merge",
        "request_extension",
        "remind",
        "reclassify",
        "note",
        "message",
    }
    proxy = set(
        access.console_actions(demo_session, agent(demo_session, "proxy_dongmen"), street_light)
    )
    assert proxy == {"reclassify", "note", "message"}


def test_inactive_agent_may_do_nothing(demo_session: Session, street_light: Case) -> None:
    """A disabled account sees no case and may take no action."""
    who = agent(demo_session, "supervisor")
    who.active = False
    assert not access.can_see(demo_session, who, street_light)
    assert access.console_actions(demo_session, who, street_light) == []


def test_register_only_inside_own_area(demo_session: Session) -> None:
    """Proxy agents and town workers register in their own area; county roles anywhere."""
    dongmen = demo_session.scalars(select(Area).where(Area.code == "chengguan.dongmen.g2")).one()
    assert access.may_register(demo_session, agent(demo_session, "proxy_dongmen"), dongmen)
    assert access.may_register(demo_session, agent(demo_session, "town_chengguan"), dongmen)
    assert not access.may_register(demo_session, agent(demo_session, "proxy_ximen"), dongmen)
    assert not access.may_register(demo_session, agent(demo_session, "town_dongao"), dongmen)
    assert access.may_register(demo_session, agent(demo_session, "supervisor"), dongmen)


def test_dispatch_targets(demo_session: Session) -> None:
    """A town worker dispatches inside the town; a proxy agent nowhere; a supervisor anywhere."""

    def targets(username: str) -> set[str]:
        condition = access.dispatch_targets(demo_session, agent(demo_session, username))
        return set(demo_session.scalars(select(Department.code).where(condition)))

    town = targets("town_chengguan")
    assert "chengguan.urban" in town and "chengguan.dongmen.committee" in town
    assert "urban_management" not in town and "dongao.fishery" not in town
    assert targets("proxy_dongmen") == set()
    assert "urban_management" in targets("supervisor")


def test_conversation_scope(demo_session: Session, street_light: Case) -> None:
    """A case's conversation is seen by its scope; a stranger's only by county roles."""
    stranger = resident(demo_session, "+8613900022999", place="dongao")
    lone = Conversation(contact_id=stranger.id, channel=Channel.SMS, state={})
    demo_session.add(lone)
    demo_session.commit()

    def visible(username: str) -> set[int]:
        condition = access.conversation_scope(demo_session, agent(demo_session, username))
        return set(demo_session.scalars(select(Conversation.id).where(condition)))

    assert visible("supervisor") == {street_light.conversation_id, lone.id}
    assert visible("proxy_dongmen") == {street_light.conversation_id}
    assert visible("town_dongao") == {lone.id}
    assert visible("handler_urban") == set()


def test_only_admin_manages_agents(demo_session: Session) -> None:
    """Account administration is the administrator's alone."""
    assert access.may_manage_agents(agent(demo_session, "admin"))
    assert not access.may_manage_agents(agent(demo_session, "supervisor"))
