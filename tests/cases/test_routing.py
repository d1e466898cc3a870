"""Routing in the demo county: the owning unit by level and place, and escalation up the chain."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.exceptions import RoutingError
from cases.models import Area, Department
from cases.routing import Route, escalation_target, intake_desk, route_case
from intents.catalog import CatalogItem, catalog

# Town offices of 城关镇 by the county department they act for (cases/demo/county.yml).
CHENGGUAN_OFFICES = {
    "justice": "chengguan.judicial",
    "public_security": "chengguan.police",
    "petition": "chengguan.zongzhi",
    "human_resources": "chengguan.labor",
    "health": "chengguan.family_planning",
    "urban_management": "chengguan.urban",
    "civil_affairs": "chengguan.civil",
}


def items(level: str) -> list[CatalogItem]:
    """Catalog items handled at `level`."""
    return [entry for entry in catalog().items if entry.level == level]


def town_item(with_office: bool) -> CatalogItem:
    """A town-level item whose department has (or has not) its own office in 城关镇."""
    return next(
        entry for entry in items("town") if (entry.department in CHENGGUAN_OFFICES) is with_office
    )


def area(session: Session, code: str) -> Area:
    """An area of the demo county by code."""
    return session.scalars(select(Area).where(Area.code == code)).one()


def unit(session: Session, code: str) -> Department:
    """A unit of the demo county by code."""
    return session.scalars(select(Department).where(Department.code == code)).one()


def route(session: Session, entry: CatalogItem, area_code: str | None) -> Route:
    """Route an item from a place of the demo county (None: place unknown)."""
    return route_case(session, entry, area(session, area_code) if area_code else None)


def test_catalog_has_items_at_every_level() -> None:
    """The tables below need items at each level and both kinds of town item."""
    assert items("village") and items("town") and items("county")
    assert town_item(with_office=True) and town_item(with_office=False)


# (place, expected committee, expected town): from a grid or from the village itself.
VILLAGE_ROUTES = [
    ("chengguan.dongmen.g2", "chengguan.dongmen.committee", "chengguan"),
    ("chengguan.dongmen", "chengguan.dongmen.committee", "chengguan"),
    ("dongao.nanao.g1", "dongao.nanao.committee", "dongao"),
    ("qingshan.gaoling", "qingshan.gaoling.committee", "qingshan"),
]


def test_village_item_goes_to_village_committee(demo_session: Session) -> None:
    """A village-level item goes to the committee of the resident's village (table above)."""
    for area_code, committee, town in VILLAGE_ROUTES:
        for entry in items("village"):
            found = route(demo_session, entry, area_code)
            assert found.department.code == committee, (entry.code, area_code)
            assert found.village is not None and found.village.code == committee.removesuffix(
                ".committee"
            )
            assert found.town is not None and found.town.code == town
            assert found.needs_review is False


def test_village_item_from_town_only_goes_to_service_centre(demo_session: Session) -> None:
    """Without the village, a village item goes to the town's office and is flagged for review."""
    entry = items("village")[0]
    found = route(demo_session, entry, "chengguan")
    assert found.department.code == CHENGGUAN_OFFICES.get(
        entry.department, "chengguan.service_center"
    )
    assert found.village is None
    assert found.needs_review is True


def test_town_item_goes_to_matching_office(demo_session: Session) -> None:
    """A town-level item goes to the town office acting for its department (司法所 for justice)."""
    entry = town_item(with_office=True)
    found = route(demo_session, entry, "chengguan.ximen.g1")
    assert found.department.code == CHENGGUAN_OFFICES[entry.department]
    assert found.department.function == entry.department
    assert found.needs_review is False


def test_town_item_without_office_goes_to_service_centre(demo_session: Session) -> None:
    """Without an office for its department, a town item goes to the 便民服务中心."""
    entry = town_item(with_office=False)
    found = route(demo_session, entry, "chengguan.ximen.g1")
    assert found.department.code == "chengguan.service_center"
    assert found.department.function is None


def test_county_item_goes_to_county_department(demo_session: Session) -> None:
    """A county-level item goes to the county department, whatever the place."""
    for entry in items("county"):
        for place in ("heping.xikou.g1", "dongao", None):
            found = route(demo_session, entry, place)
            assert found.department.code == entry.department, (entry.code, place)
            assert found.department.level.value == "county"


def test_no_place_goes_to_intake_desk_for_review(demo_session: Session) -> None:
    """A village or town item with no known place goes to the intake desk, needing review."""
    for entry in items("village") + items("town"):
        found = route(demo_session, entry, None)
        assert found.department.code == "intake_center", entry.code
        assert found.department.is_intake_desk
        assert (found.village, found.town, found.needs_review) == (None, None, True)


# (place, level of the unit a village item reaches from there)
PLACES = [("heping.xikou.g2", "village"), ("dongao.yugang", "village"), ("qingshan", "town")]


def test_every_item_routes_from_every_kind_of_place(demo_session: Session) -> None:
    """Every catalog item finds a unit of its level from a grid, a village or a town."""
    for place, village_level in PLACES:
        for entry in catalog().items:
            found = route(demo_session, entry, place)
            expected = village_level if entry.level == "village" else entry.level
            assert found.department.level.value == expected, (entry.code, place)


def test_escalation_chain(demo_session: Session) -> None:
    """上报 goes village → town office → county department → intake desk, then stops."""
    entry = town_item(with_office=True)
    town = area(demo_session, "chengguan")
    steps = [unit(demo_session, "chengguan.dongmen.committee")]
    while True:
        try:
            steps.append(escalation_target(demo_session, steps[-1], entry, town))
        except RoutingError as exc:
            assert "top" in str(exc)
            break
        assert len(steps) < 10
    assert [step.code for step in steps] == [
        "chengguan.dongmen.committee",
        CHENGGUAN_OFFICES[entry.department],
        entry.department,
        "intake_center",
    ]


def test_escalation_targets(demo_session: Session) -> None:
    """One level up: a committee to its own town, a town centre to the county, the desk stops."""
    no_office = town_item(with_office=False)
    village_item = items("village")[0]
    shiwan = unit(demo_session, "dongao.shiwan.committee")
    assert escalation_target(demo_session, shiwan, no_office, None).code == "dongao.service_center"
    centre = unit(demo_session, "heping.service_center")
    assert (
        escalation_target(demo_session, centre, village_item, None).code == village_item.department
    )
    county = unit(demo_session, village_item.department)
    assert escalation_target(demo_session, county, village_item, None).code == "intake_center"
    with pytest.raises(RoutingError, match="top of the escalation chain"):
        escalation_target(demo_session, intake_desk(demo_session), village_item, None)


def test_no_intake_desk_is_a_routing_error(session: Session) -> None:
    """An empty directory has no intake desk to fall back to."""
    with pytest.raises(RoutingError, match="no county intake desk"):
        intake_desk(session)


def test_unknown_county_department_is_a_routing_error(demo_session: Session) -> None:
    """An item routed to a department missing from the directory is refused clearly."""
    entry = items("county")[0].model_copy(update={"department": "space_agency"})
    with pytest.raises(RoutingError, match="space_agency"):
        route(demo_session, entry, "chengguan")


def test_inactive_office_is_skipped(demo_session: Session) -> None:
    """A closed town office is passed over for the service centre."""
    entry = town_item(with_office=True)
    unit(demo_session, CHENGGUAN_OFFICES[entry.department]).active = False
    demo_session.flush()
    assert (
        route(demo_session, entry, "chengguan.nanjie").department.code == "chengguan.service_center"
    )
