"""The demo county (清溪县): directory, units and agent accounts from `county.yml`.

`zhitong demo` loads it; it is idempotent (a second run changes nothing). Every account gets the
published demo password, which the console accepts only while ZHITONG_DEMO is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from cases.exceptions import DemoDataError
from cases.models import Agent, Area, Department
from cases.models.directory import AgentRole, AreaLevel, UnitLevel
from intents.yamlio import load_yaml

COUNTY_FILE = Path(__file__).resolve().parent / "county.yml"
DEMO_PASSWORD = "zhitong-demo"


@dataclass(frozen=True)
class DemoSummary:
    """What loading the demo county created (all zero when it was already there)."""

    areas: int
    departments: int
    agents: int
    usernames: tuple[str, ...]


def load_demo_county(session: Session, path: Path = COUNTY_FILE) -> DemoSummary:
    """Create the demo county's directory unless it exists already.

    Raises:
        DemoDataError: the file is unreadable or lacks a required key.
    """
    try:
        data = load_yaml(path)
        return _Loader(session).load(data)
    except (OSError, yaml.YAMLError) as exc:
        raise DemoDataError(f"{path}: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise DemoDataError(f"{path}: missing or malformed entry: {exc}") from exc


def demo_usernames(session: Session) -> list[str]:
    """Usernames of the demo accounts, for the start-up banner."""
    return list(
        session.scalars(select(Agent.username).where(Agent.is_demo.is_(True)).order_by(Agent.id))
    )


class _Loader:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.areas: dict[str, Area] = {}
        self.units: dict[str, Department] = {}
        self.password_hash = generate_password_hash(DEMO_PASSWORD)
        self.agents: list[Agent] = []

    def load(self, data: dict[str, Any]) -> DemoSummary:
        county = data["county"]
        if self.session.scalars(select(Area).where(Area.code == county["code"])).first():
            return DemoSummary(0, 0, 0, ())
        root = self._area(county, AreaLevel.COUNTY, "county", None)
        for row in data["departments"]:
            self._unit(
                row, UnitLevel.COUNTY, root, function=None, intake=row["code"] == "intake_center"
            )
        for town_row in data["towns"]:
            self._town(town_row, root)
        for row in data["agents"]:
            self._agent(row)
        self.session.flush()
        return DemoSummary(
            len(self.areas),
            len(self.units),
            len(self.agents),
            tuple(a.username for a in self.agents),
        )

    def _town(self, row: dict[str, Any], county: Area) -> None:
        town = self._area(row, AreaLevel.TOWN, row.get("kind", "town"), county)
        for unit in row["units"]:
            self._unit(unit, UnitLevel.TOWN, town, function=unit.get("function"))
        for village_row in row["villages"]:
            village = self._area(
                village_row, AreaLevel.VILLAGE, village_row.get("kind", "village"), town
            )
            committee = "居委会" if village_row.get("kind") == "community" else "村委会"
            unit = self._unit(
                {
                    "code": f"{village_row['code']}.committee",
                    "name": f"{village_row['name']}{committee}",
                    "duty_phone": village_row.get("duty_phone", ""),
                    "head": village_row.get("leader", {}),
                    "leader": row.get("leader", {}),
                },
                UnitLevel.VILLAGE,
                village,
                function=None,
            )
            for grid in village_row.get("grids", []):
                area = self._area(grid, AreaLevel.GRID, "grid", village)
                inspector = grid.get("inspector", {})
                area.inspector_name = inspector.get("name", "")
                area.inspector_phone = _e164(inspector.get("phone", ""))
            for proxy in village_row.get("proxy_agents", []):
                self._add_agent(proxy, AgentRole.VILLAGE_PROXY, area=village, unit=unit)

    def _area(self, row: dict[str, Any], level: AreaLevel, kind: str, parent: Area | None) -> Area:
        leader = row.get("leader", {})
        area = Area(
            code=row["code"],
            name=row["name"],
            name_en=row.get("name_en", ""),
            level=level,
            kind=kind,
            parent_id=parent.id if parent else None,
            duty_phone=row.get("duty_phone", ""),
            leader_name=leader.get("name", ""),
            leader_title=leader.get("title", ""),
            leader_phone=_e164(leader.get("phone", "")),
        )
        self.session.add(area)
        self.session.flush()
        area.path = f"{parent.path if parent else '/'}{area.id}/"
        self.areas[area.code] = area
        return area

    def _unit(
        self,
        row: dict[str, Any],
        level: UnitLevel,
        area: Area,
        *,
        function: str | None,
        intake: bool = False,
    ) -> Department:
        head, leader = row.get("head", {}), row.get("leader", {})
        unit = Department(
            code=row["code"],
            name=row["name"],
            name_en=row.get("name_en", ""),
            level=level,
            area_id=area.id,
            function=function,
            is_intake_desk=intake,
            duty_phone=row.get("duty_phone", ""),
            head_name=head.get("name", ""),
            head_title=head.get("title", ""),
            head_phone=_e164(head.get("phone", "")),
            leader_name=leader.get("name", ""),
            leader_title=leader.get("title", ""),
            leader_phone=_e164(leader.get("phone", "")),
        )
        self.session.add(unit)
        self.session.flush()
        self.units[unit.code] = unit
        return unit

    def _agent(self, row: dict[str, Any]) -> None:
        area = self.areas[row["area"]] if row.get("area") else None
        unit = self.units[row["department"]] if row.get("department") else None
        role = AgentRole(row["role"])
        if area is None and role in {AgentRole.COUNTY_SUPERVISOR, AgentRole.ADMIN}:
            area = next(a for a in self.areas.values() if a.level is AreaLevel.COUNTY)
        if area is None and unit is not None:
            area = self.session.get(Area, unit.area_id)
        self._add_agent(row, role, area=area, unit=unit)

    def _add_agent(
        self, row: dict[str, Any], role: AgentRole, *, area: Area | None, unit: Department | None
    ) -> None:
        agent = Agent(
            username=row["username"],
            display_name=row["name"],
            password_hash=self.password_hash,
            role=role,
            area_id=area.id if area else None,
            department_id=unit.id if unit else None,
            phone=_e164(row.get("phone", "")),
            is_demo=True,
        )
        self.session.add(agent)
        self.agents.append(agent)


def _e164(number: str) -> str:
    """A mobile number in E.164 (+86…); landlines and blanks are kept as written."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(str(number), "CN")
    except phonenumbers.NumberParseException:
        return str(number)
    if phonenumbers.is_valid_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return str(number)
