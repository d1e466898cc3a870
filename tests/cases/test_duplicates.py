"""Duplicate detection: which new concerns are linked to an open case, and the console's part."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from cases import duplicates
from cases.clock import Clock
from cases.console_queries import possible_duplicate
from cases.duplicates import comparable_text, similarity
from cases.lifecycle import SYSTEM, ActionContext, perform
from cases.models import Area, Case, Contact, Department
from cases.models.cases import CaseStatus
from cases.models.messaging import AddressKind, Channel
from cases.service import Intake, dispatch_case, open_case
from tests.conftest import local
from tests.fixtures.console import (
    act,
    console_app,
    console_client,
    demo_settings,
    post_form,
    reload,
    sign_in,
)

__all__ = ["console_app", "console_client", "demo_settings"]  # fixtures used by the tests

NOW = local(2026, 10, 12, 10, 0)
YUGANG = "dongao.yugang"  # 东澳镇渔港社区
FIRST = "东澳镇渔港村村口的路灯坏了，晚上一片漆黑"
AGAIN = "渔港村村口那盏路灯不亮好几天了"


def place(session: Session, code: str) -> int:
    """A demo area's id."""
    return session.scalars(select(Area.id).where(Area.code == code)).one()


def contact(session: Session, phone: str) -> int:
    """A resident's contact id (created on first use)."""
    found = session.scalars(select(Contact).where(Contact.address == phone)).first()
    if found is None:
        found = Contact(kind=AddressKind.PHONE, address=phone, phone=phone)
        session.add(found)
        session.flush()
    return found.id


def report(
    session: Session,
    clock: Clock,
    description: str,
    *,
    area: str | None = YUGANG,
    item: str = "infra_streetlight",
    phone: str | None = None,
    now: dt.datetime = NOW,
) -> Case:
    """Open a case as the bot does, and commit it."""
    case = open_case(
        session,
        Intake(
            item_code=item,
            description=description,
            channel=Channel.SMS,
            area_id=place(session, area) if area else None,
            contact_id=contact(session, phone) if phone else None,
            confidence=0.9,
        ),
        now=now,
        clock=clock,
    )
    session.commit()
    return case


def test_same_village_same_item_similar_text_is_a_candidate(
    demo_session: Session, clock: Clock
) -> None:
    """路灯不亮 in 渔港 reported twice in other words: the second points at the first."""
    first = report(demo_session, clock, FIRST, phone="+8613900050001")
    second = report(
        demo_session, clock, AGAIN, phone="+8613900050002", now=NOW + dt.timedelta(hours=5)
    )
    assert first.duplicate_of_id is None
    assert second.duplicate_of_id == first.id
    note = second.events[-1]
    assert (note.action, note.visible_to_resident) == ("note", False)
    assert first.number in note.note
    assert note.data["duplicate_of"] == first.number and note.data["reason"] == "text"
    assert duplicates.THRESHOLD <= note.data["score"] <= 100
    # Still a normal case: accepted, routed and timed; it is in the duplicates queue.
    assert second.status is CaseStatus.ACCEPTED
    assert second.department_id is not None and second.due_at is not None
    queued = demo_session.scalars(select(Case.id).where(possible_duplicate())).all()
    assert queued == [second.id]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"area": "dongao.nanao"}, "another village"),
        ({"item": "infra_road"}, "another matter"),
        ({"description": "菜市场后面巷子里没有路灯，能不能装一个"}, "another light"),
        ({"now": NOW + dt.timedelta(days=15)}, "more than 14 days later"),
        ({"area": None}, "no place and another resident"),
    ],
)
def test_not_a_candidate(
    demo_session: Session, clock: Clock, change: dict[str, Any], why: str
) -> None:
    """A report in another village, of another matter, unlike, too late or placeless: none."""
    report(demo_session, clock, FIRST, phone="+8613900050001")
    fields: dict[str, Any] = {"description": AGAIN, "phone": "+8613900050002", **change}
    second = report(demo_session, clock, fields.pop("description"), **fields)
    assert second.duplicate_of_id is None, why
    assert "note" not in [event.action for event in second.events]


@pytest.mark.parametrize("final", ["resolved", "rejected", "merged"])
def test_finished_cases_are_not_candidates(demo_session: Session, clock: Clock, final: str) -> None:
    """A resolved, rejected or merged case is not open: a new report is not its copy."""
    first = report(demo_session, clock, FIRST)
    other = report(demo_session, clock, "码头边的灯杆被车撞歪了", now=NOW + dt.timedelta(minutes=1))
    context = ActionContext(NOW, clock, {"duplicate_of_id": other.id})
    action = {"resolved": "resolve", "rejected": "reject", "merged": "merge"}[final]
    demo_session.add(perform(first, action, SYSTEM, context, note="已处理"))
    demo_session.commit()
    second = report(demo_session, clock, AGAIN, now=NOW + dt.timedelta(hours=1))
    assert second.duplicate_of_id is None


def test_same_resident_again_is_a_candidate_whatever_the_words(
    demo_session: Session, clock: Clock
) -> None:
    """The same contact re-reporting the same matter within 14 days is a candidate."""
    first = report(demo_session, clock, FIRST, phone="+8613900050001")
    again = report(
        demo_session,
        clock,
        "怎么还没人来修？",
        area=None,  # the resident did not say where this time
        phone="+8613900050001",
        now=NOW + dt.timedelta(days=3),
    )
    assert again.duplicate_of_id == first.id
    assert again.events[-1].data["reason"] == "same_contact"


def test_same_resident_in_another_village_is_not_a_candidate(
    demo_session: Session, clock: Clock
) -> None:
    """The same resident's report of a light in another village is another matter."""
    report(demo_session, clock, FIRST, phone="+8613900050001")
    elsewhere = report(
        demo_session, clock, "北澳村码头的路灯也坏了", area="dongao.beiao", phone="+8613900050001"
    )
    assert elsewhere.duplicate_of_id is None


def test_grids(demo_session: Session, clock: Clock) -> None:
    """Both in a grid: only the same grid matches; one without a grid matches the village."""
    in_g1 = report(demo_session, clock, FIRST, area="dongao.yugang.g1")
    same_grid = report(demo_session, clock, AGAIN, area="dongao.yugang.g1")
    other_grid = report(demo_session, clock, AGAIN, area="dongao.yugang.g2")
    village = report(demo_session, clock, AGAIN, area=YUGANG)
    assert same_grid.duplicate_of_id == in_g1.id
    assert other_grid.duplicate_of_id is None
    assert village.duplicate_of_id == same_grid.id  # the same words as the grid's second


def test_services_are_never_duplicates(demo_session: Session, clock: Clock) -> None:
    """Two identical proxy-service requests (便民代办) are two requests, not a duplicate."""
    first = report(demo_session, clock, "我想办理低保", item="fp_birth_registration")
    second = report(demo_session, clock, "我想办理低保", item="fp_birth_registration")
    assert first.kind.value == "service" and second.duplicate_of_id is None


DUPLICATE_PAIRS = [
    (FIRST, AGAIN),
    ("渔港社区码头边的路灯不亮了，晚上很黑", "码头那边路灯坏了，晚上出海回来看不见路"),
    ("村口垃圾堆了好几天没人清理，臭得很", "村口那堆垃圾还没人清，都发臭了"),
    ("小学门口的下水道堵了，一下雨就积水", "学校门口下水道堵住了，下雨积水很深"),
    ("我家门口那根电线杆歪了要倒了", "门口电线杆歪得厉害，随时会倒"),
    ("广场那边的灯晚上不亮，跳广场舞的都看不见", "广场的路灯坏了，晚上跳舞看不见"),
    ("渔港社区三号楼后面路灯坏了", "三号楼后面的路灯不亮"),
]
DIFFERENT_PAIRS = [
    (FIRST, "渔港村小学门口装的新路灯白天也亮着，浪费电"),
    ("渔港社区码头边的路灯不亮了，晚上很黑", "菜市场后面巷子里没有路灯，能不能装一个"),
    ("村口垃圾堆了好几天没人清理，臭得很", "河里有人倒建筑垃圾，水都变浑了"),
    ("小学门口的下水道堵了，一下雨就积水", "菜市场的下水道井盖丢了，很危险"),
    ("广场那边的灯晚上不亮，跳广场舞的都看不见", "路灯线被人偷了，整条路都黑了"),
    ("渔港社区三号楼后面路灯坏了", "渔港社区菜市场门口路灯坏了"),
    ("门口", "我家门口那根电线杆歪了要倒了"),
]
PLACE_NAMES = ("渔港社区", "东澳镇", "渔港", "东澳")


@pytest.mark.parametrize(("first", "second"), DUPLICATE_PAIRS)
def test_realistic_duplicates_score_above_the_threshold(first: str, second: str) -> None:
    """The same matter told in other words scores at or above the threshold, both ways."""
    a, b = comparable_text(first, PLACE_NAMES), comparable_text(second, PLACE_NAMES)
    assert similarity(a, b) >= duplicates.THRESHOLD
    assert similarity(b, a) >= duplicates.THRESHOLD


@pytest.mark.parametrize(("first", "second"), DIFFERENT_PAIRS)
def test_realistic_different_matters_score_below_the_threshold(first: str, second: str) -> None:
    """Another light or problem of the same kind in the same place scores below it."""
    a, b = comparable_text(first, PLACE_NAMES), comparable_text(second, PLACE_NAMES)
    assert similarity(a, b) < duplicates.THRESHOLD


@pytest.mark.parametrize(
    ("hostile", "alike"),
    [
        ("", False),
        ("   ", False),
        ("😀😀😀🔥", False),  # nothing is left once emoji are dropped
        ("路灯" * 2500, True),
        ("\u200b\u2067村口\u200d", True),  # invisible characters dropped: 村口 twice
        ("<script>alert(1)</script>", True),
    ],
)
def test_hostile_text_opens_the_case(
    demo_session: Session, clock: Clock, hostile: str, alike: bool
) -> None:
    """Empty, 5,000-character, emoji-only or control-laden reports open cases normally."""
    report(demo_session, clock, hostile, phone="+8613900050001")
    second = report(demo_session, clock, hostile, phone="+8613900050002")
    assert second.status is CaseStatus.ACCEPTED
    # Texts with nothing comparable in them are never alike (only the same resident links).
    assert (second.duplicate_of_id is not None) is alike


def test_long_reports_are_compared_on_a_bounded_prefix(demo_session: Session, clock: Clock) -> None:
    """A 5,000-character paste is cut before scoring, and still matches its copy."""
    first = report(demo_session, clock, FIRST * 250)
    second = report(demo_session, clock, AGAIN + FIRST * 250)
    assert len(comparable_text(FIRST * 250)) == duplicates.MAX_TEXT
    assert second.duplicate_of_id == first.id


def test_a_failing_check_never_fails_the_intake(
    demo_session: Session, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error in the check is rolled back to its savepoint; the case is opened."""
    report(demo_session, clock, FIRST)

    def broken(session: Session, *args: object) -> list[object]:
        session.execute(text("SELECT * FROM no_such_table"))
        return []

    monkeypatch.setattr(duplicates, "_candidate_rows", broken)
    second = report(demo_session, clock, AGAIN)
    assert second.duplicate_of_id is None and second.status is CaseStatus.ACCEPTED
    count = demo_session.scalar(select(func.count()).select_from(Case))
    assert count == 2


def test_a_candidate_is_dispatched_like_any_case(demo_session: Session, clock: Clock) -> None:
    """A suspected duplicate is still dispatched and timed until an agent merges it."""
    report(demo_session, clock, FIRST)
    second = report(demo_session, clock, AGAIN)
    unit = demo_session.scalars(select(Department).where(Department.code == "urban_management"))
    context = ActionContext(NOW, clock)
    dispatch_case(demo_session, second, SYSTEM, context, unit.one())
    demo_session.commit()
    assert second.status is CaseStatus.DISPATCHED and second.duplicate_of_id is not None


def test_console_shows_the_candidate_and_merges_it(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """The agent sees the score and a link to the original, merges; the resident's event
    names the surviving case."""
    now = dt.datetime.now(dt.UTC)
    first = report(demo_session, clock, FIRST, phone="+8613900050001", now=now)
    second = report(demo_session, clock, AGAIN, phone="+8613900050002", now=now)
    demo_session.rollback()
    sign_in(console_client, "supervisor")
    assert second.number in console_client.get("/console/").get_data(as_text=True)
    page = console_client.get(f"/console/cases/{second.number}").get_data(as_text=True)
    assert f'href="/console/cases/{first.number}"' in page
    score = reload(demo_session, second).events[-1].data["score"]
    assert f'id="duplicate-score">{score}' in page
    assert 'data-action="merge"' in page and 'data-action="dismiss_duplicate"' in page

    # The suggestion is merged without retyping the number.
    assert act(console_client, second, "merge", demo_session, note="同一盏路灯").status_code == 302
    merged = reload(demo_session, second)
    assert merged.status is CaseStatus.MERGED and merged.duplicate_of_id == first.id
    event = merged.events[-1]
    assert event.action == "merge" and event.visible_to_resident
    assert event.data["duplicate_of"] == first.number
    assert second.number not in console_client.get("/console/").get_data(as_text=True)


def test_console_merges_into_the_end_of_a_chain(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Naming a case that was itself merged merges into its survivor; a merge that would make a
    circle is refused and changes nothing."""
    now = dt.datetime.now(dt.UTC)
    first = report(demo_session, clock, FIRST, phone="+8613900050011", now=now)
    second = report(
        demo_session,
        clock,
        "另一件事：渔港村码头的垃圾没人收",
        phone="+8613900050012",
        item="env_garbage",
        now=now,
    )
    third = report(
        demo_session, clock, "码头垃圾堆了一周", phone="+8613900050013", item="env_garbage", now=now
    )
    demo_session.rollback()
    sign_in(console_client, "supervisor")
    merged = act(console_client, second, "merge", demo_session, duplicate_of=first.number)
    assert merged.status_code == 302
    assert (
        act(console_client, third, "merge", demo_session, duplicate_of=second.number).status_code
        == 302
    )
    assert reload(demo_session, third).duplicate_of_id == first.id
    assert reload(demo_session, third).events[-1].data["duplicate_of"] == first.number

    refused = act(console_client, first, "merge", demo_session, duplicate_of=third.number)
    assert refused.status_code == 400
    assert "请反过来合并" in refused.get_data(as_text=True)
    stays = reload(demo_session, first)
    assert stays.status is not CaseStatus.MERGED and stays.duplicate_of_id is None


def test_console_dismisses_the_candidate(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """不是重复件: the link is cleared, the case stays open and leaves the queue."""
    now = dt.datetime.now(dt.UTC)
    report(demo_session, clock, FIRST, now=now)
    second = report(demo_session, clock, AGAIN, now=now)
    demo_session.rollback()
    sign_in(console_client, "supervisor")
    response = act(console_client, second, "dismiss_duplicate", demo_session, note="另一盏灯")
    assert response.status_code == 302
    dismissed = reload(demo_session, second)
    assert dismissed.duplicate_of_id is None and dismissed.status is CaseStatus.ACCEPTED
    assert dismissed.events[-1].data["merge"] == "dismissed"
    assert second.number not in console_client.get("/console/").get_data(as_text=True)


def test_agent_registration_is_checked_too(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """A walk-in registered in the console is linked like a bot-opened case."""
    first = report(demo_session, clock, FIRST, now=dt.datetime.now(dt.UTC))
    demo_session.rollback()
    sign_in(console_client, "supervisor")
    response = post_form(
        console_client,
        "/console/register",
        {
            "channel": "walk_in",
            "item_code": "infra_streetlight",
            "area_id": place(demo_session, YUGANG),
            "phone": "13900050009",
            "description": AGAIN,
        },
    )
    assert response.status_code == 302
    demo_session.rollback()
    newest = demo_session.scalars(select(Case).order_by(Case.id.desc())).first()
    assert newest is not None and newest.id != first.id
    assert newest.duplicate_of_id == first.id
