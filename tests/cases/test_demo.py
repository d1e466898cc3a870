"""The demo county (清溪县): a full directory, loaded idempotently, phones in E.164."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from cases.demo import COUNTY_FILE, DEMO_PASSWORD, demo_usernames, load_demo_county
from cases.exceptions import DemoDataError
from cases.models import Agent, Area, Department
from cases.models.directory import AgentRole, AreaLevel, UnitLevel
from intents.catalog import catalog

E164_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")


def areas(session: Session, level: AreaLevel) -> list[Area]:
    """Areas of one level."""
    return list(session.scalars(select(Area).where(Area.level == level).order_by(Area.id)))


def count(session: Session, model: type) -> int:
    """Rows of a model."""
    return session.scalar(select(func.count()).select_from(model)) or 0


# Loading the demo county takes a few tenths of a second per database, so each test below
# checks one aspect of the loaded directory as a whole.


def test_areas(demo_session: Session) -> None:
    """One county; ≥ 3 towns, one coastal; ≥ 12 villages and communities; nested paths."""
    (county,) = areas(demo_session, AreaLevel.COUNTY)
    towns = areas(demo_session, AreaLevel.TOWN)
    villages = areas(demo_session, AreaLevel.VILLAGE)
    assert county.name == "清溪县"
    assert len(towns) >= 3
    assert all(town.parent_id == county.id for town in towns)
    assert len(villages) >= 12
    assert {village.kind for village in villages} == {"village", "community"}
    # coastal: a town office acts for ocean and fisheries
    coastal = demo_session.scalars(
        select(Area.name)
        .join(Department, Department.area_id == Area.id)
        .where(Department.level == UnitLevel.TOWN, Department.function == "ocean_fishery")
        .distinct()
    ).all()
    assert coastal == ["东澳镇"]
    by_id = {area.id: area for area in demo_session.scalars(select(Area))}
    for area in by_id.values():
        parent = by_id.get(area.parent_id) if area.parent_id else None
        assert area.path == f"{parent.path if parent else '/'}{area.id}/", area.code
        assert parent is None or parent.covers(area)


def test_grids_have_inspectors(demo_session: Session) -> None:
    """Every village has grids; every grid a named inspector (网格员) with a mobile number."""
    grids = areas(demo_session, AreaLevel.GRID)
    villages_with_grids = {grid.parent_id for grid in grids}
    assert villages_with_grids == {village.id for village in areas(demo_session, AreaLevel.VILLAGE)}
    for grid in grids:
        assert grid.inspector_name, grid.code
        assert E164_MOBILE.match(grid.inspector_phone), grid.code


def test_units(demo_session: Session) -> None:
    """Committees per village, one service centre per town, one intake desk, catalog departments."""
    for village in areas(demo_session, AreaLevel.VILLAGE):
        committee = demo_session.scalars(
            select(Department).where(
                Department.area_id == village.id, Department.level == UnitLevel.VILLAGE
            )
        ).one()
        assert committee.name == village.name + (
            "居委会" if village.kind == "community" else "村委会"
        )
    for town in areas(demo_session, AreaLevel.TOWN):
        centres = demo_session.scalars(
            select(Department).where(
                Department.area_id == town.id,
                Department.level == UnitLevel.TOWN,
                Department.function.is_(None),
            )
        ).all()
        assert len(centres) == 1, town.name
    desks = demo_session.scalars(
        select(Department).where(Department.is_intake_desk.is_(True))
    ).all()
    assert [desk.code for desk in desks] == ["intake_center"]


def test_catalog_departments_have_heads_and_leaders(demo_session: Session) -> None:
    """Each department the catalog routes to exists at county level, with head and leader."""
    for declared in catalog().departments:
        unit = demo_session.scalars(
            select(Department).where(
                Department.code == declared.code, Department.level == UnitLevel.COUNTY
            )
        ).one()
        assert unit.head_name and unit.leader_name, declared.code
        assert E164_MOBILE.match(unit.head_phone), declared.code
        assert E164_MOBILE.match(unit.leader_phone), declared.code


def test_agents(demo_session: Session) -> None:
    """Demo accounts of every role, scoped, listed for the banner, with the demo password."""
    agents = demo_session.scalars(select(Agent)).all()
    assert {agent.role for agent in agents} == set(AgentRole)
    for agent in agents:
        assert agent.is_demo
        if agent.role is AgentRole.DEPARTMENT_HANDLER:
            assert agent.department_id is not None, agent.username
        if agent.role in {AgentRole.VILLAGE_PROXY, AgentRole.TOWN_WORKER}:
            assert agent.area_id is not None, agent.username
    proxy = next(agent for agent in agents if agent.username == "proxy_dongmen")
    assert proxy.area is not None and proxy.area.name == "东门社区"
    assert proxy.department is not None and proxy.department.name == "东门社区居委会"
    names = demo_usernames(demo_session)
    assert {"admin", "supervisor", "intake_desk", "proxy_dongmen"} <= set(names)
    assert len(names) == len(set(names)) == len(agents)
    (stored,) = {agent.password_hash for agent in agents}
    assert DEMO_PASSWORD not in stored
    assert check_password_hash(stored, DEMO_PASSWORD)
    assert not check_password_hash(stored, "wrong-password")


MOBILE_COLUMNS = [
    Agent.phone,
    Department.head_phone,
    Department.leader_phone,
    Area.leader_phone,
    Area.inspector_phone,
]


def test_phone_numbers(demo_session: Session) -> None:
    """Mobile numbers are stored as +86… (E.164); landlines stay as the county writes them."""
    for column in MOBILE_COLUMNS:
        values = [value for value in demo_session.scalars(select(column)) if value]
        assert values, column
        assert [value for value in values if not E164_MOBILE.match(value)] == [], column
    county = areas(demo_session, AreaLevel.COUNTY)[0]
    assert county.duty_phone == "0591-2860 0000"


def test_second_load_changes_nothing(demo_session: Session) -> None:
    """Loading the demo county again creates nothing and reports zeros."""
    before = [count(demo_session, model) for model in (Area, Department, Agent)]
    summary = load_demo_county(demo_session)
    demo_session.commit()
    assert (summary.areas, summary.departments, summary.agents, summary.usernames) == (0, 0, 0, ())
    assert [count(demo_session, model) for model in (Area, Department, Agent)] == before


def test_first_load_summary(session: Session) -> None:
    """The first load reports what it created."""
    summary = load_demo_county(session)
    session.commit()
    assert summary.areas == count(session, Area)
    assert summary.departments == count(session, Department)
    assert summary.agents == count(session, Agent) == len(summary.usernames)


MALFORMED = [
    "county: [unclosed",
    "county: {code: x, name: 县}\ndepartments: []\n",  # no towns
    "towns: []\n",  # no county
]


def test_malformed_county_file(session: Session, tmp_path: Path) -> None:
    """A broken demo file raises DemoDataError naming the file."""
    path = tmp_path / "county.yml"
    for text in MALFORMED:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(DemoDataError, match=r"county\.yml"):
            load_demo_county(session, path)
        session.rollback()


def test_missing_county_file(session: Session, tmp_path: Path) -> None:
    """A missing demo file raises DemoDataError."""
    with pytest.raises(DemoDataError, match=r"absent\.yml"):
        load_demo_county(session, tmp_path / "absent.yml")


def test_shipped_file_is_the_default() -> None:
    """The demo file ships inside the package."""
    assert COUNTY_FILE.is_file()
