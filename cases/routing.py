"""Routing: which unit owns a case, and where it goes when it is escalated.

The catalog says at which level an item is handled (village, town, county) and which county
department is responsible. With the resident's area that gives the owning unit:

- village level: the village committee (村委会/居委会) of the case's village;
- town level: the town office that acts for the item's department (司法所 for justice), or
  else the town's service centre (便民服务中心);
- county level: the county department itself.

Escalation (上报) goes one level up: village → town → county department → the county's intake
desk (民情服务中心), where the supervisors sit. A case with no known place goes to its town's
service centre if the town is known, else to the county intake desk, for a person to review.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.exceptions import RoutingError
from cases.models import Area, Department
from cases.models.directory import AreaLevel, UnitLevel
from intents.catalog import CatalogItem


@dataclass(frozen=True)
class Route:
    """Where a case goes: the owning unit, and the village and town it belongs to."""

    department: Department
    village: Area | None
    town: Area | None
    needs_review: bool = False


def route_case(session: Session, item: CatalogItem, area: Area | None) -> Route:
    """The owning unit for a new case of `item` from `area` (None when the place is unknown)."""
    village, town = _village_and_town(session, area)
    if item.level == "village" and village is not None:
        unit = _village_unit(session, village)
        if unit is not None:
            return Route(unit, village, town)
    if item.level in {"village", "town"} and town is not None:
        return Route(
            _town_unit(session, town, item.department), village, town, needs_review=village is None
        )
    if item.level == "county":
        return Route(_county_department(session, item.department), village, town)
    # village/town item with no known place: someone must find out where it is.
    return Route(intake_desk(session), village, town, needs_review=True)


def escalation_target(
    session: Session, unit: Department, item: CatalogItem, town: Area | None
) -> Department:
    """The unit one level above `unit` for this item.

    Raises:
        RoutingError: the unit is the county intake desk, the top of the chain.
    """
    if unit.level is UnitLevel.VILLAGE:
        parent_town = town or _town_of(session, unit.area)
        if parent_town is not None:
            return _town_unit(session, parent_town, item.department)
        return _county_department(session, item.department)
    if unit.level is UnitLevel.TOWN:
        return _county_department(session, item.department)
    if unit.is_intake_desk:
        raise RoutingError(f"{unit.name} is the top of the escalation chain")
    return intake_desk(session)


def intake_desk(session: Session) -> Department:
    """The county's intake desk (民情服务中心 / 12345).

    Raises:
        RoutingError: the directory has no intake desk.
    """
    desk = session.scalars(
        select(Department)
        .where(Department.is_intake_desk.is_(True), Department.active.is_(True))
        .limit(1)
    ).first()
    if desk is None:
        raise RoutingError("the directory has no county intake desk (is_intake_desk)")
    return desk


def _village_and_town(session: Session, area: Area | None) -> tuple[Area | None, Area | None]:
    if area is None:
        return None, None
    chain = _ancestors(session, area)
    village = next((a for a in chain if a.level is AreaLevel.VILLAGE), None)
    town = next((a for a in chain if a.level is AreaLevel.TOWN), None)
    return village, town


def _ancestors(session: Session, area: Area) -> list[Area]:
    """The area and every area above it, nearest first (one query on the materialised path)."""
    ids = [int(part) for part in area.path.strip("/").split("/") if part]
    found = {a.id: a for a in session.scalars(select(Area).where(Area.id.in_(ids)))} if ids else {}
    chain = [found[i] for i in reversed(ids) if i in found]
    return chain or [area]


def _town_of(session: Session, area: Area) -> Area | None:
    return _village_and_town(session, area)[1]


def _village_unit(session: Session, village: Area) -> Department | None:
    return session.scalars(
        select(Department)
        .where(
            Department.area_id == village.id,
            Department.level == UnitLevel.VILLAGE,
            Department.active.is_(True),
        )
        .order_by(Department.id)
        .limit(1)
    ).first()


def _town_unit(session: Session, town: Area, function: str) -> Department:
    units = session.scalars(
        select(Department)
        .where(
            Department.area_id == town.id,
            Department.level == UnitLevel.TOWN,
            Department.active.is_(True),
        )
        .order_by(Department.id)
    ).all()
    for unit in units:
        if unit.function == function:
            return unit
    for unit in units:
        if unit.function is None:
            return unit
    raise RoutingError(f"{town.name} has no service centre (a town unit without a function)")


def _county_department(session: Session, code: str) -> Department:
    department = session.scalars(
        select(Department).where(Department.code == code, Department.level == UnitLevel.COUNTY)
    ).first()
    if department is None:
        raise RoutingError(f"no county department with code {code!r} in the directory")
    return department
