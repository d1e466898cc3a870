"""The console after a QA session: transcripts kept to scope and masked, translated refusals,
the dispatch form's assignee choice, unit names in the timeline, console error pages, the
extension decision buttons and the language switch."""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import re

import pytest
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import lifecycle, routing, service
from cases.access import CONSOLE_ACTIONS
from cases.clock import Clock
from cases.exceptions import ActionRefusedError
from cases.lifecycle import SYSTEM, ActionContext, perform
from cases.models import Agent, Case, Contact, Conversation, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.service import Intake, open_case
from tests.fixtures.console import (
    act,
    area_id,
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
from webhooks.console import actions
from webhooks.console.helpers import REFUSALS, explain_refusal

__all__ = ["console_app", "console_client", "demo_settings"]  # fixtures used by the tests

ID_NUMBER = "350102198805051234"
MASKED_ID = "350***********1234"
YUGANG_TEXT = f"我叫李大明，身份证{ID_NUMBER}。渔港社区的路灯坏了"
CHENGGUAN_TEXT = "东门社区的自来水停了两天"
GREETING = "你好，我想反映问题"
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    """The HTML of a GET, checking its status."""
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.get_data(as_text=True)


def transcript_of(html: str) -> str:
    """The case page's transcript panel only (the description field may show the full text)."""
    return html.split('id="transcript"', 1)[1].split('id="timeline"', 1)[0]


def signed_in(client: FlaskClient, username: str) -> FlaskClient:
    """A fresh client of the same app, signed in as `username`."""
    other = client.application.test_client()
    sign_in(other, username)
    return other


def _message(
    session: Session, talk: Conversation, body: str, case: Case | None, **extra: object
) -> None:
    session.add(
        Message(
            conversation_id=talk.id,
            contact_id=talk.contact_id,
            case_id=case.id if case else None,
            direction=extra.pop("direction", Direction.INBOUND),
            channel=Channel.SMS,
            body=body,
            status=MessageStatus.PROCESSED,
            media=[],
            **extra,
        )
    )
    session.flush()


@pytest.fixture
def two_towns(demo_session: Session, clock: Clock) -> tuple[int, str, str]:
    """One conversation of a 城郊村 resident about a 东澳镇 case and a 城关镇 case.

    Returns the conversation's id and the two case numbers (东澳, 城关). The resident asks for
    a person after the ID number message, which is the last inbound one.
    """
    contact = resident(demo_session, "+8613900011555", place="chengguan.chengjiao")
    talk = Conversation(
        contact_id=contact.id,
        channel=Channel.SMS,
        state={},
        handoff_requested_at=dt.datetime.now(dt.UTC),
    )
    demo_session.add(talk)
    demo_session.flush()
    now = dt.datetime.now(dt.UTC)
    cases = []
    for place, text in (
        ("dongao.yugang.g1", YUGANG_TEXT),
        ("chengguan.dongmen.g1", CHENGGUAN_TEXT),
    ):
        intake = Intake(
            item_code="infra_streetlight",
            description=text,
            channel=Channel.SMS,
            area_id=area_id(demo_session, place),
            contact_id=contact.id,
            conversation_id=talk.id,
            confidence=0.9,
        )
        cases.append(open_case(demo_session, intake, now=now, clock=clock))
    yugang, chengguan = cases
    _message(demo_session, talk, GREETING, None)
    _message(demo_session, talk, CHENGGUAN_TEXT, chengguan)
    _message(demo_session, talk, YUGANG_TEXT, yugang)
    _message(
        demo_session,
        talk,
        f"已受理，编号 {yugang.number}",
        yugang,
        direction=Direction.OUTBOUND,
    )
    demo_session.commit()
    return talk.id, yugang.number, chengguan.number


# ---- 1. transcripts: scope and masking ------------------------------------------------------


def test_conversation_none_of_whose_cases_is_visible_is_refused(
    console_client: FlaskClient, two_towns: tuple[int, str, str]
) -> None:
    """The resident's village proxy sees neither case: 403, and no hand-off row in 待办."""
    talk_id, _yugang, _chengguan = two_towns
    client = signed_in(console_client, "proxy_chengjiao")
    page(client, f"/console/conversations/{talk_id}", 403)
    work = page(client, "/console/")
    assert f"/console/conversations/{talk_id}" not in work and "渔港" not in work


@pytest.mark.parametrize("username", ["proxy_yugang", "town_dongao"])
def test_conversation_shows_only_the_agents_part_masked(
    console_client: FlaskClient, two_towns: tuple[int, str, str], username: str
) -> None:
    """东澳 agents read the 东澳 messages, masked; not the untied greeting, which may speak of
    the other town's case (a 低保 application, a "我的案件" list) as much as of theirs."""
    talk_id, yugang, _chengguan = two_towns
    html = page(signed_in(console_client, username), f"/console/conversations/{talk_id}")
    assert ID_NUMBER not in html and MASKED_ID in html
    assert "渔港社区的路灯坏了" in html and yugang in html
    assert CHENGGUAN_TEXT not in html and GREETING not in html


def test_case_page_and_conversation_page_agree(
    console_client: FlaskClient, two_towns: tuple[int, str, str]
) -> None:
    """城关 sees its own part on the case page and the conversation page, never 东澳's."""
    talk_id, yugang, chengguan = two_towns
    client = signed_in(console_client, "town_chengguan")
    case_transcript = transcript_of(page(client, f"/console/cases/{chengguan}"))
    conversation = page(client, f"/console/conversations/{talk_id}")
    for html in (case_transcript, conversation):
        assert CHENGGUAN_TEXT in html and GREETING not in html
        assert "渔港" not in html and ID_NUMBER not in html and yugang not in html
    page(client, f"/console/cases/{yugang}", 403)
    work = page(client, "/console/")
    assert f"/console/conversations/{talk_id}" in work and "渔港" not in work


def test_transcripts_mask_numbers_even_in_scope(
    console_client: FlaskClient, two_towns: tuple[int, str, str]
) -> None:
    """The county sees every message, with the ID number masked on both pages."""
    talk_id, yugang, _chengguan = two_towns
    client = signed_in(console_client, "supervisor")
    conversation = page(client, f"/console/conversations/{talk_id}")
    case_transcript = transcript_of(page(client, f"/console/cases/{yugang}"))
    for html in (conversation, case_transcript):
        assert MASKED_ID in html and ID_NUMBER not in html
    assert CHENGGUAN_TEXT in conversation and CHENGGUAN_TEXT in case_transcript
    assert GREETING in conversation  # the county sees every case, so the untied messages too


def test_conversation_without_a_case_is_read_by_the_residents_area(
    console_client: FlaskClient, demo_session: Session
) -> None:
    """A hand-off before any case: the resident's village proxy may read and answer it."""
    contact = resident(demo_session, "+8613900011556", place="chengguan.chengjiao")
    talk = Conversation(contact_id=contact.id, channel=Channel.SMS, state={})
    demo_session.add(talk)
    demo_session.flush()
    _message(demo_session, talk, "我要找人工", None)
    demo_session.commit()
    assert "我要找人工" in page(
        signed_in(console_client, "proxy_chengjiao"), f"/console/conversations/{talk.id}"
    )
    page(signed_in(console_client, "proxy_yugang"), f"/console/conversations/{talk.id}", 403)


# ---- 2. refusals in the agent's language -----------------------------------------------------


def _refusal_templates(module: object) -> list[str]:
    """The English texts of the refusals a module raises (f-string holes as "{}")."""
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
            continue
        name = getattr(node.exc.func, "id", "")
        if name in {"TransitionError", "TypeError", "ValueError"} or not node.exc.args:
            continue  # transitions get the status message; the others are bugs, not refusals
        found.append(_text(node.exc.args[0]))
    return found


def _guard_templates() -> list[str]:
    """The English texts the lifecycle's guards of console actions refuse with."""
    guards = {g for name in CONSOLE_ACTIONS for g in lifecycle.ACTIONS[name].guards}
    texts = []
    for guard in guards:
        tree = ast.parse(inspect.getsource(guard))
        texts += [
            _text(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Return) and node.value is not None and _text(node.value)
        ]
    return texts


def _text(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            _text(part) if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    if isinstance(node, ast.IfExp):
        return _text(node.orelse) or _text(node.body)
    if isinstance(node, ast.BinOp):
        return _text(node.left) + _text(node.right)
    return ""


def test_every_refusal_the_console_meets_is_translated(console_app: object) -> None:
    """Each refusal raised by the console's actions, the services and routing, or a lifecycle
    guard, has an entry in REFUSALS and reads as Chinese."""
    templates = [
        *_refusal_templates(actions),
        *_refusal_templates(service),
        *_refusal_templates(routing),
        *_guard_templates(),
    ]
    assert "choose a unit you may dispatch to" in templates
    missing = [t for t in templates if not any(fragment in t for fragment, _zh in REFUSALS)]
    assert missing == []
    with console_app.test_request_context(), force_locale("zh"):  # type: ignore[attr-defined]
        for template in templates:
            text = explain_refusal(ActionRefusedError(template.replace("{}", "1")))
            assert text is not None and not LATIN_WORD.search(text), (template, text)


def test_dispatch_and_reclassify_refusals_in_chinese(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """A unit out of reach, an agent of another unit and an unknown item are refused in Chinese."""
    case = bot_case(demo_session, clock)
    urban = unit(demo_session, "chengguan.urban").id
    far = unit(demo_session, "civil_affairs").id
    civil_handler = demo_session.scalars(
        select(Agent.id).where(Agent.username == "handler_civil")
    ).one()
    demo_session.rollback()
    client = signed_in(console_client, "town_chengguan")
    answers = {
        "请选择您有权交办的承办单位": act(
            client, case, "dispatch", demo_session, department_id=far
        ),
        "所选人员不属于所选承办单位": act(
            client,
            case,
            "dispatch",
            demo_session,
            department_id=urban,
            assignee_id=civil_handler,
        ),
        "请从列表中选择正确的事项": act(
            client, case, "reclassify", demo_session, item_code="no_such_item"
        ),
    }
    for expected, response in answers.items():
        html = response.get_data(as_text=True)
        assert response.status_code == 400 and expected in html
        assert "choose" not in html and "does not work" not in html
    assert reload(demo_session, case).department_id != far


# ---- 3. the dispatch form's assignee choice --------------------------------------------------


def test_assignee_choice_is_grouped_by_the_units_offered(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Only agents of units the agent may dispatch to, grouped under their unit's name."""
    case = bot_case(demo_session, clock)
    committee = demo_session.scalars(select(Agent).where(Agent.username == "proxy_dongmen")).one()
    committee_name = committee.department.name if committee.department else ""
    case = reload(demo_session, case)  # detached, readable; the app may write (SQLite)
    html = page(signed_in(console_client, "town_chengguan"), f"/console/cases/{case.number}")
    assignees = html.split('id="assignee_id"', 1)[1].split("</select>", 1)[0]
    assert f'<optgroup label="{committee_name}"' in assignees and "谢春燕" in assignees
    assert "王梦婷" not in assignees  # 县民政局: not a unit a town worker dispatches to
    assert "庄梦婷" not in assignees  # 渔港社区: another town


# ---- 4. unit names in the timeline -----------------------------------------------------------


def test_timeline_names_the_unit_in_the_agents_language(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """交办 shows "→ 清溪县民政局" (English: the bureau's English name), never the code."""
    case = bot_case(demo_session, clock)
    bureau = unit(demo_session, "civil_affairs").id
    demo_session.rollback()
    client = signed_in(console_client, "supervisor")
    done = act(client, case, "dispatch", demo_session, department_id=bureau)
    assert done.status_code == 302
    timeline = page(client, f"/console/cases/{case.number}").split('id="timeline"', 1)[1]
    assert "→ 清溪县民政局" in timeline and "civil_affairs" not in timeline
    assert post_form(client, "/console/lang/en", {}).status_code == 302
    english = page(client, f"/console/cases/{case.number}").split('id="timeline"', 1)[1]
    assert "→ Qingxi County Civil Affairs Bureau" in english


# ---- 5. console error pages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("from=2026-11-30&to=2026-11-01", "开始日期晚于结束日期"),
        ("from=0001-01-01&to=9999-12-31", "日期须在 2000 年至 2099 年之间"),
        ("from=2024-01-01&to=2026-11-01", "每次最多导出 366 天的数据"),
        ("from=9999-12-31&to=9999-12-31", "日期须在 2000 年至 2099 年之间"),
        ("period=nope", "YYYY-MM-DD"),
    ],
)
def test_export_with_a_bad_range_is_a_400_console_page(
    console_client: FlaskClient, query: str, expected: str
) -> None:
    """A bad range is the requester's mistake: 400 with a clear message in the console's page."""
    response = signed_in(console_client, "supervisor").get(f"/console/exports/cases.csv?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and expected in html
    assert "直通工作台" in html and "Bad Request" not in html


def test_unknown_console_paths_get_the_console_page(console_client: FlaskClient) -> None:
    """/console/agents/abc is a console 404 in Chinese; the API keeps its JSON errors."""
    client = signed_in(console_client, "admin")
    response = client.get("/console/agents/abc")
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and "页面或事项不存在" in html and "直通工作台" in html
    assert "Not Found" not in html
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.is_json


# ---- 6. extension decisions and the language switch ------------------------------------------


def test_extension_decisions_only_while_a_request_waits(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """批准延期 / 驳回延期 appear only after 申请延期, and go once decided."""
    case = bot_case(demo_session, clock)
    client = signed_in(console_client, "supervisor")

    def buttons() -> set[str]:
        html = page(client, f"/console/cases/{case.number}")
        return {n for n in ("approve_extension", "deny_extension") if f'"{n}"' in html}

    assert buttons() == set()
    asked = act(client, case, "request_extension", demo_session, days=2, note="需现场勘查")
    assert asked.status_code == 302
    assert buttons() == {"approve_extension", "deny_extension"}
    assert act(client, case, "approve_extension", demo_session).status_code == 302
    assert buttons() == set()


def test_language_switch_is_a_post_with_csrf(console_client: FlaskClient) -> None:
    """A GET or a POST without the token changes nothing; the header's form switches."""
    client = signed_in(console_client, "supervisor")
    assert client.get("/console/lang/en").status_code == 302
    assert "待办" in page(client, "/console/")
    assert client.post("/console/lang/en").status_code == 400
    assert "待办" in page(client, "/console/")
    home = page(client, "/console/")
    assert 'method="post" action="/console/lang/en"' in home
    assert post_form(client, "/console/lang/en", {}).status_code == 302
    assert "Work queue" in page(client, "/console/")


def test_a_web_chat_resident_shows_no_address_as_a_phone(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """A web-chat contact has no phone: the case page says so instead of printing the token
    digest ("web:730cc7a…") in the phone field, where it overflowed its card."""
    contact = Contact(kind=AddressKind.WEB, address="web:730cc7a0f3b9d2e41c55aa", name="")
    demo_session.add(contact)
    demo_session.flush()
    intake = Intake(
        item_code="infra_streetlight",
        description="路灯坏了",
        channel=Channel.WEB,
        area_id=area_id(demo_session, "chengguan.dongmen.g1"),
        contact_id=contact.id,
        confidence=0.9,
    )
    case = open_case(demo_session, intake, now=dt.datetime.now(dt.UTC), clock=clock)
    demo_session.commit()
    sign_in(console_client, "supervisor")
    page = console_client.get(f"/console/cases/{case.number}").get_data(as_text=True)
    assert "web:730cc7a" not in page and "730cc7a" not in page
    for listing in ("/console/", "/console/?view=review", "/console/cases"):
        text = console_client.get(listing).get_data(as_text=True)
        assert "730****4155" not in text, listing  # no fake phone from the address


def test_the_timeline_shows_the_residents_rating(
    console_client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """群众评价 shows the score as the resident gave it (before: only "→ 已回访")."""
    intake = Intake(
        item_code="infra_streetlight",
        description="路灯坏了",
        channel=Channel.SMS,
        area_id=area_id(demo_session, "chengguan.dongmen.g1"),
        confidence=0.9,
    )
    now = dt.datetime.now(dt.UTC)
    case = open_case(demo_session, intake, now=now, clock=clock)
    for action, data in (("resolve", {}), ("rate", {"score": 2})):  # accepted at opening
        event = perform(case, action, SYSTEM, ActionContext(now, clock, data), note="已修好")
        demo_session.add(event)
    demo_session.commit()
    sign_in(console_client, "supervisor")
    page = console_client.get(f"/console/cases/{case.number}").get_data(as_text=True)
    assert "评价: 2 满意" in page


def test_walk_in_places_are_in_directory_order_and_named_with_their_village(
    console_client: FlaskClient, demo_session: Session
) -> None:
    """Grids follow their village in creation order (before: "/1/4/17/" sorted before
    "/1/4/5/", so 第三网格 came before 第一网格), each named with its village."""
    sign_in(console_client, "supervisor")
    page = console_client.get("/console/register").get_data(as_text=True)
    select_html = page.split('name="area_id"', 1)[1].split("</select>", 1)[0]
    labels = re.findall(r"<option[^>]*>([^<]+)</option>", select_html)
    grids = [label for label in labels if label.startswith("东门社区 ")]
    assert grids and grids == sorted(grids, key=lambda label: "一二三四五六七八九".index(label[-3]))
    assert labels.index("东门社区") < labels.index(grids[0])
