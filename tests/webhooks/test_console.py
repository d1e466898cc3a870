"""The agent console: queues, case page and its actions, registration, history, dashboard, admin."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.clock import Clock
from cases.models import Agent, Case, Contact, Conversation, Message, NluCorrection
from cases.models.cases import CaseStatus
from cases.models.messaging import Channel, Direction, MessageStatus
from tests.fixtures.console import (
    RESIDENT_PHONE,
    act,
    bot_case,
    console_app,
    console_client,
    demo_settings,
    post_form,
    reload,
    resident,
    sign_in,
    unit,
)
from webhooks.i18n import TRANSLATIONS
from worker.notify import notify_event

__all__ = ["console_app", "console_client", "demo_settings"]  # fixtures used by the tests


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    """The HTML of a GET, checking its status."""
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.get_data(as_text=True)


def test_main_journey(console_client: FlaskClient, demo_session: Session, clock: Clock) -> None:
    """A low-confidence bot case goes through review to resolution; the resident is told."""
    case = bot_case(demo_session, clock, item="env_garbage", confidence=0.3)
    sign_in(console_client, "town_chengguan")
    work = page(console_client, "/console/")
    assert case.number in work and "待审核" in work

    assert (
        act(
            console_client, case, "reclassify", demo_session, item_code="infra_streetlight"
        ).status_code
        == 302
    )
    corrections = list(demo_session.scalars(select(NluCorrection)))
    demo_session.rollback()
    assert [(c.old_intent, c.new_intent) for c in corrections] == [
        ("env_garbage", "infra_streetlight")
    ]
    assert act(console_client, case, "accept", demo_session).status_code == 302
    urban = unit(demo_session, "chengguan.urban")
    assert (
        act(console_client, case, "dispatch", demo_session, department_id=urban.id).status_code
        == 302
    )
    assert act(console_client, case, "sign", demo_session).status_code == 302
    result = "路灯已更换，今晚起恢复照明。"
    assert act(console_client, case, "resolve", demo_session, note=result).status_code == 302

    stored = reload(demo_session, case)
    assert stored.status is CaseStatus.RESOLVED and stored.item_code == "infra_streetlight"
    assert not stored.needs_review and stored.result_text == result
    assert [e.action for e in stored.events] == [
        "create",
        "reclassify",
        "accept",
        "dispatch",
        "sign",
        "resolve",
    ]
    assert {e.actor_name for e in stored.events[1:]} == {"陈建平"}
    notify_event(stored.events[-1].id)  # the notification job queued by the commit
    demo_session.rollback()  # see what the job committed
    outbound = demo_session.scalars(
        select(Message).where(
            Message.direction == Direction.OUTBOUND,
            Message.event_id == stored.events[-1].id,
            Message.purpose == "",
        )
    ).one()
    # sent by the notify job itself (the local sender); held at night
    assert outbound.status in {MessageStatus.SENT, MessageStatus.HELD}
    assert outbound.channel is Channel.SMS
    assert result in outbound.body and case.number in outbound.body
    assert outbound.event_id == stored.events[-1].id
    demo_session.rollback()
    assert result in page(console_client, f"/console/cases/{case.number}")
    assert case.number not in page(console_client, "/console/")


def test_refusals_are_clear_never_500(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Illegal transitions answer 409, broken rules 400, stale forms 409, all in Chinese."""
    case = bot_case(demo_session, clock)
    sign_in(console_client, "supervisor")
    illegal = act(console_client, case, "sign", demo_session)  # accepted, not dispatched
    assert illegal.status_code == 409 and "不能进行此操作" in illegal.get_data(as_text=True)
    no_text = act(console_client, case, "reject", demo_session, note="  ")
    assert no_text.status_code == 400 and "请填写理由或内容" in no_text.get_data(as_text=True)
    unknown = act(console_client, case, "teleport", demo_session)
    assert unknown.status_code == 403
    stale = post_form(
        console_client,
        f"/console/cases/{case.number}/act",
        {"action": "note", "version": reload(demo_session, case).version - 1, "note": "x"},
    )
    assert stale.status_code == 409 and "他人已修改" in stale.get_data(as_text=True)
    broken = post_form(console_client, f"/console/cases/{case.number}/act", {"action": "note"})
    assert broken.status_code == 400
    assert reload(demo_session, case).status is CaseStatus.ACCEPTED


def test_scope_on_pages_and_actions(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Out of scope: 403 on the page and on every action; lists leave the case out."""
    case = bot_case(demo_session, clock)
    sign_in(console_client, "town_dongao")
    page(console_client, f"/console/cases/{case.number}", 403)
    assert act(console_client, case, "note", demo_session, note="x").status_code == 403
    assert case.number not in page(console_client, "/console/cases")
    page(console_client, f"/console/residents/{case.contact_id}", 403)
    page(console_client, "/console/cases/000000000000", 404)


def test_personal_data_masked_outside_the_case_view(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Lists show 139****1999; the case page in scope shows the full number."""
    case = bot_case(demo_session, clock, description="我的身份证110105194912310021，路灯坏了")
    sign_in(console_client, "proxy_dongmen")
    listing = page(console_client, "/console/cases")
    assert "139****1999" in listing and RESIDENT_PHONE not in listing
    assert "110105194912310021" not in listing
    detail = page(console_client, f"/console/cases/{case.number}")
    assert RESIDENT_PHONE in detail


def test_case_list_filters_search_and_pages(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Filters, search by number, phone and words, and keyset pages of 50."""
    start = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)
    cases = [
        bot_case(
            demo_session, clock, now=start + dt.timedelta(minutes=i), phone=f"+86139000119{i:02d}"
        )
        for i in range(52)
    ]
    water = bot_case(demo_session, clock, item="infra_water", description="自来水停了", now=start)
    sign_in(console_client, "supervisor")
    first = page(console_client, "/console/cases")
    assert "53" in first and cases[-1].number in first and cases[0].number not in first
    assert 'rel="next"' in first
    older = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = page(console_client, older)
    assert cases[0].number in second and cases[-1].number not in second
    filtered = page(console_client, "/console/cases?item=infra_water&status=open")
    assert water.number in filtered and cases[0].number not in filtered
    assert water.number in page(console_client, "/console/cases?q=自来水")
    assert cases[5].number in page(console_client, "/console/cases?q=13900011905")
    jump = console_client.get(f"/console/cases?q={water.number}")
    assert jump.status_code == 302 and jump.location.endswith(water.number)
    page(console_client, "/console/cases?status=bogus&area=x&from=notadate&warning=purple")


def test_queues_show_duplicates_handoffs_and_voicemails(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Each queue lists its work; a hand-off reply is queued and the hand-off can be released."""
    first = bot_case(demo_session, clock)
    second = bot_case(demo_session, clock)
    stored = demo_session.get(Case, second.id)
    assert stored is not None
    stored.duplicate_of_id = first.id
    caller = resident(demo_session, "+8613900011777")
    talk = Conversation(
        contact_id=caller.id,
        channel=Channel.WECHAT,
        state={},
        handoff_requested_at=dt.datetime.now(dt.UTC),
    )
    demo_session.add(talk)
    demo_session.flush()
    demo_session.add_all(
        [
            Message(
                conversation_id=talk.id,
                contact_id=caller.id,
                direction=Direction.INBOUND,
                channel=Channel.WECHAT,
                body="我要找人工",
                status=MessageStatus.PROCESSED,
                media=[],
            ),
            Message(
                contact_id=caller.id,
                direction=Direction.INBOUND,
                channel=Channel.VOICE,
                body="留言：桥上护栏断了",
                status=MessageStatus.PROCESSED,
                media=[{"url": "/recordings/1.mp3"}],
            ),
        ]
    )
    demo_session.commit()
    talk_id = talk.id
    sign_in(console_client, "supervisor")
    work = page(console_client, "/console/")
    assert second.number in work and "我要找人工" in work and "桥上护栏断了" in work

    chat = page(console_client, f"/console/conversations/{talk_id}")
    assert "我要找人工" in chat
    reply = post_form(
        console_client, f"/console/conversations/{talk_id}", {"body": "您好，我是工作人员"}
    )
    assert reply.status_code == 302
    sent = demo_session.scalars(
        select(Message).where(Message.direction == Direction.OUTBOUND)
    ).one()
    assert sent.channel is Channel.WECHAT and sent.conversation_id == talk_id
    demo_session.rollback()
    assert (
        post_form(console_client, f"/console/conversations/{talk_id}/release", {}).status_code
        == 302
    )
    demo_session.rollback()
    assert "我要找人工" not in page(console_client, "/console/")

    assert act(console_client, second, "dismiss_duplicate", demo_session).status_code == 302
    assert reload(demo_session, second).duplicate_of_id is None
    merged = act(
        console_client, second, "merge", demo_session, duplicate_of=first.number, note="同一路灯"
    )
    assert merged.status_code == 302
    assert reload(demo_session, second).status is CaseStatus.MERGED
    assert act(console_client, second, "unmerge", demo_session).status_code == 302
    assert reload(demo_session, second).status is CaseStatus.ACCEPTED


def test_extension_request_and_approval(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """A unit asks for days, a supervisor approves them; the deadline moves."""
    case = bot_case(demo_session, clock)
    due = reload(demo_session, case).due_at
    sign_in(console_client, "town_chengguan")
    asked = act(console_client, case, "request_extension", demo_session, days=3, note="需现场勘查")
    assert asked.status_code == 302
    assert act(console_client, case, "approve_extension", demo_session).status_code == 403
    supervisor = console_client.application.test_client()
    sign_in(supervisor, "supervisor")
    assert act(supervisor, case, "approve_extension", demo_session).status_code == 302
    stored = reload(demo_session, case)
    assert stored.extension_days == 3 and stored.due_at is not None and due is not None
    assert stored.due_at > due


def test_walk_in_registration_and_slip(console_client: FlaskClient, demo_session: Session) -> None:
    """A proxy agent registers a walk-in for its village and gets the two-part slip."""
    village = demo_session.scalars(
        select(Agent.area_id).where(Agent.username == "proxy_dongmen")
    ).one()
    demo_session.rollback()
    sign_in(console_client, "proxy_dongmen")
    form = page(console_client, "/console/register")
    assert "东门社区" in form and "西门社区" not in form
    response = post_form(
        console_client,
        "/console/register",
        {
            "channel": "walk_in",
            "item_code": "social_elderly_allowance",
            "area_id": village,
            "name": "王大伯",
            "phone": "13900011888",
            "description": "申请高龄津贴",
        },
    )
    assert response.status_code == 302 and response.location.endswith("/slip")
    case = demo_session.scalars(select(Case)).one()
    demo_session.refresh(case, ["events"])
    demo_session.expunge(case)
    demo_session.rollback()
    assert case.channel is Channel.WALK_IN and case.status is CaseStatus.ACCEPTED
    assert case.events[0].actor_name == "谢春燕"
    slip = page(console_client, response.location)
    assert "存根联" in slip and "回执联" in slip and case.number in slip
    assert "139****1888" in slip and "+8613900011888" in slip
    contact = demo_session.get(Contact, case.contact_id)
    assert contact is not None and contact.name == "王大伯"
    demo_session.rollback()
    bad = post_form(console_client, "/console/register", {"channel": "walk_in", "item_code": "x"})
    assert bad.status_code == 400


def test_resident_history(console_client: FlaskClient, demo_session: Session, clock: Clock) -> None:
    """All of one resident's cases and conversations, found by phone."""
    first = bot_case(demo_session, clock)
    second = bot_case(demo_session, clock, item="infra_water")
    sign_in(console_client, "town_chengguan")
    found = console_client.get("/console/residents?phone=139 0001 1999")
    assert found.status_code == 302
    history = page(console_client, found.location)
    assert first.number in history and second.number in history and "户情民意备忘录" in history
    page(console_client, "/console/residents?phone=13900000000", 404)


def test_dashboard_and_language_switch(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """The dashboard shows the figures with SVG charts; English on request."""
    case = bot_case(demo_session, clock)
    sign_in(console_client, "supervisor")
    act(console_client, case, "resolve", demo_session, note="已修好")
    board = page(console_client, "/console/dashboard")
    assert "办结率" in board and "<svg" in board and "100.0%" in board and "城关镇" in board
    assert post_form(console_client, "/console/lang/en", {}).status_code == 302
    english = page(console_client, "/console/dashboard?area=abc&from=bad")
    assert "Resolution rate" in english and "办结率" not in english


def test_admin_manages_accounts(console_client: FlaskClient, demo_session: Session) -> None:
    """Only the administrator creates and unlocks accounts."""
    sign_in(console_client, "supervisor")
    page(console_client, "/console/agents", 403)
    admin = console_client.application.test_client()
    sign_in(admin, "admin")
    assert "proxy_dongmen" in page(admin, "/console/agents")
    created = post_form(
        admin,
        "/console/agents/new",
        {
            "username": "new_clerk",
            "display_name": "新同事",
            "role": "town_worker",
            "area_id": 0,
            "department_id": 0,
            "language": "zh",
            "active": "y",
            "password": "long-enough-pw",
        },
    )
    assert created.status_code == 302
    clerk = demo_session.scalars(select(Agent).where(Agent.username == "new_clerk")).one()
    clerk.locked_until = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    demo_session.commit()
    saved = post_form(
        admin,
        f"/console/agents/{clerk.id}",
        {
            "username": "new_clerk",
            "display_name": "新同事",
            "role": "town_worker",
            "area_id": 0,
            "department_id": 0,
            "language": "zh",
            "active": "y",
            "unlock": "y",
        },
    )
    assert saved.status_code == 302
    demo_session.expire_all()
    assert demo_session.get(Agent, clerk.id).locked_until is None  # type: ignore[union-attr]
    demo_session.rollback()
    assert (
        sign_in(console_client.application.test_client(), "new_clerk", "long-enough-pw").status_code
        == 302
    )


def test_chinese_catalog_is_complete_and_compiled() -> None:
    """Every UI string has its Chinese, and the committed .mo matches the .po."""
    folder = Path(TRANSLATIONS) / "zh" / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as po_file:
        po = read_po(po_file)
    with (folder / "messages.mo").open("rb") as mo_file:
        mo = read_mo(mo_file)
    untranslated = [m.id for m in po if m.id and not m.string]
    assert untranslated == []
    assert {m.id: m.string for m in po if m.id} == {m.id: m.string for m in mo if m.id}
