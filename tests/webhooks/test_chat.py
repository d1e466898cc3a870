"""Web chat: the page and its JSON API, on SQLite and PostgreSQL, limits on memory and Redis."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from cases.models import Case, Contact, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.settings import load_settings
from tests.fixtures.nlu import project_model
from tests.fixtures.services import services_for
from webhooks import chat
from webhooks.app import create_app
from webhooks.console.messaging import queue_outbound_message
from worker import understanding

# 200 KB of JSON nested deeper than the parser's recursion limit.
DEEP_LIST = b"[" * 100_000 + b"]" * 100_000
TOO_LARGE = b'{"text": "' + b"x" * (3 * 1024 * 1024) + b'"}'
STREET_LIGHT = "城关镇东门社区门口的路灯坏了一个星期了，晚上一片漆黑"
ANSWERS = ("是", "东门社区", "1", "是的")


def make_app(engine: Engine, folder: Path, **settings: Any) -> Flask:
    """The app on the test database with the project's intent model."""
    config = {key: value for key, value in settings.items() if key.isupper()}
    options = {key: value for key, value in settings.items() if not key.isupper()}
    loaded = load_settings(instance_path=folder, secret_key="chat-secret", **options)
    app = create_app(loaded, services_for(engine, loaded))
    app.config.update(config)
    return app


@pytest.fixture
def app(demo_session: Session, engine: Engine, tmp_path: Path) -> Iterator[Flask]:
    """The app on a demo county database, limits in memory."""
    understanding.use_interpreter(project_model())
    understanding.forget_gazetteer()
    yield make_app(engine, tmp_path)
    understanding.use_interpreter(None)
    understanding.forget_gazetteer()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


class Browser:
    """One browser's chat: it keeps its token as the page does in localStorage."""

    def __init__(
        self, client: FlaskClient, address: str = "10.1.1.1", language: str | None = None
    ) -> None:
        self.client, self.address, self.language = client, address, language
        self.token = ""
        self.sent = 0

    def post(self, text: str, client_id: str | None = None) -> TestResponse:
        """POST /api/chat as the page does."""
        self.sent += 1
        body = {"token": self.token, "text": text, "client_id": client_id or self.next_id()}
        if self.language is not None:
            body["language"] = self.language
        response = self.client.post(
            "/api/chat", json=body, environ_base={"REMOTE_ADDR": self.address}
        )
        if response.status_code == 200:
            self.token = response.get_json()["token"]
        return response

    def say(self, text: str) -> list[str]:
        """Send a message that must be answered; the replies."""
        response = self.post(text)
        assert response.status_code == 200, response.get_data(as_text=True)
        replies: list[str] = response.get_json()["replies"]
        return replies

    def fetch(self, after: int = 0, token: str | None = None) -> TestResponse:
        """GET /api/chat with the token in the page's header."""
        return self.client.get(
            f"/api/chat?after={after}",
            headers={chat.TOKEN_HEADER: self.token if token is None else token},
            environ_base={"REMOTE_ADDR": self.address},
        )

    def next_id(self) -> str:
        return f"msg-{self.address.replace('.', '-')}-{self.sent:04d}"


def count(session: Session, model: type) -> int:
    """Rows of a model, read afresh (the read transaction ended, so the app may write)."""
    session.rollback()
    rows = int(session.scalar(select(func.count()).select_from(model)) or 0)
    session.rollback()
    return rows


def report_street_light(browser: Browser, session: Session) -> tuple[Case, list[str]]:
    """Talk to the bot until it opens a case; the case and everything it said."""
    answers = iter(ANSWERS)
    text, received = STREET_LIGHT, []
    for _turn in range(len(ANSWERS) + 1):
        received += browser.say(text)
        session.rollback()
        case = session.scalars(select(Case)).first()
        session.rollback()  # end the read: the app writes next
        if case is not None:
            return case, received
        text = next(answers)
    raise AssertionError(f"no case opened: {received}")


def test_page_is_chinese_by_default_and_self_contained(client: FlaskClient) -> None:
    """/chat: Chinese, labelled, live region, only local assets, no cookie set."""
    response = client.get("/chat")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and '<html lang="zh-CN">' in html
    assert "发送" in html and "您的消息" in html
    assert 'aria-live="polite"' in html and '<label for="text">' in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert set(assets) == {"/static/chat.css", "/static/chat.js"}
    assert "http://" not in html and "https://" not in html
    assert "Set-Cookie" not in response.headers
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200
        assert b"http://" not in served.data and b"https://" not in served.data
        served.close()


def test_page_is_english_when_the_browser_prefers_it(client: FlaskClient) -> None:
    """Accept-Language preferring English gets the English page; Chinese first stays Chinese."""
    english = client.get("/chat", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    html = english.get_data(as_text=True)
    assert '<html lang="en">' in html and ">Send<" in html and "发送" not in html
    chinese = client.get("/chat", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert ">发送<" in chinese.get_data(as_text=True)


def test_a_conversation_ends_in_a_case_number(client: FlaskClient, demo_session: Session) -> None:
    """A first message gets a token; talking on, the resident gets a receipt with the number."""
    browser = Browser(client)
    case, received = report_street_light(browser, demo_session)
    assert browser.token and "." in browser.token
    assert case.item_code == "infra_streetlight" and case.channel is Channel.WEB
    assert case.number in "".join(received)
    contact = demo_session.scalars(select(Contact)).one()
    assert contact.kind is AddressKind.WEB and case.contact_id == contact.id
    assert browser.token not in contact.address  # only a digest of the token is stored
    messages = demo_session.scalars(select(Message).order_by(Message.id)).all()
    assert {m.channel for m in messages} == {Channel.WEB}
    assert all(m.status is MessageStatus.SENT for m in messages if m.direction.value == "outbound")


def test_the_english_page_gets_english_until_the_resident_writes_chinese(
    client: FlaskClient, demo_session: Session
) -> None:
    """On the English page "hello" and "STOP" are answered in English (they say nothing of the
    language by themselves); once the resident writes Chinese, the bot follows them. Before,
    the English page got Chinese answers to both."""
    english = Browser(client, language="en")
    assert "Hello" in english.say("hello")[0] or "hello" in english.say("hello")[0].lower()
    assert all(not re.search(r"[\u4e00-\u9fff]", reply) for reply in english.say("hello"))
    assert not re.search(r"[\u4e00-\u9fff]", english.say("STOP")[0])
    chinese = Browser(client, address="10.1.1.2", language="en")
    assert re.search(r"[\u4e00-\u9fff]", chinese.say("你好")[0])
    assert re.search(r"[\u4e00-\u9fff]", chinese.say("hello")[0])  # the resident's choice holds
    page_zh = Browser(client, address="10.1.1.3", language="zh")
    assert re.search(r"[\u4e00-\u9fff]", page_zh.say("hello")[0])


def test_a_retried_post_gets_the_same_replies_and_changes_nothing(
    client: FlaskClient, demo_session: Session
) -> None:
    """The same client_id again (a network flake): same message, same replies, nothing new."""
    browser = Browser(client)
    first = browser.post("水管爆了，到处是水", client_id="flaky-0001").get_json()
    assert first["replies"] and len(first["reply_ids"]) == len(first["replies"])
    messages, cases = count(demo_session, Message), count(demo_session, Case)
    assert cases == 1
    again = browser.post("水管爆了，到处是水", client_id="flaky-0001")
    assert again.status_code == 200
    assert again.get_json() == first
    assert count(demo_session, Message) == messages and count(demo_session, Case) == cases


def test_a_reused_client_id_with_another_text_is_refused(
    client: FlaskClient, demo_session: Session
) -> None:
    """Same client_id, other text: 409, nothing stored or dropped; the same text stays a retry."""
    browser = Browser(client)
    first = browser.post("你好", client_id="reused-0001").get_json()
    messages = count(demo_session, Message)
    other = browser.post("水管爆了，到处是水", client_id="reused-0001")
    assert other.status_code == 409
    error = other.get_json()["error"]
    assert error["code"] == "client_id_reused" and "client_id" in error["message"]
    assert count(demo_session, Message) == messages and count(demo_session, Case) == 0
    retried = browser.post("  你好\n", client_id="reused-0001")  # trimmed as when it was stored
    assert retried.status_code == 200 and retried.get_json() == first
    fresh = browser.post("水管爆了，到处是水", client_id="reused-0002")
    assert fresh.status_code == 200 and count(demo_session, Case) == 1


def test_a_retry_of_cleaned_text_is_still_a_retry(
    client: FlaskClient, demo_session: Session
) -> None:
    """A text stored cleaned (NUL, lone surrogate) matches its own retry: no false 409."""
    body = json.dumps({"text": "路灯\x00坏了\ud800", "client_id": "cleaned-0001"})
    first = client.post("/api/chat", data=body, content_type="application/json").get_json()
    token = first["token"]
    body = json.dumps({"token": token, "text": "路灯\x00坏了\ud800", "client_id": "cleaned-0001"})
    again = client.post("/api/chat", data=body, content_type="application/json")
    assert again.status_code == 200 and again.get_json() == first
    assert count(demo_session, Message) == 1 + len(first["reply_ids"])


def test_the_same_client_id_from_another_browser_is_its_own_message(
    client: FlaskClient, demo_session: Session
) -> None:
    """Client ids are scoped to the browser: another's id neither dedupes nor leaks replies."""
    alice, bob = Browser(client, "10.1.1.1"), Browser(client, "10.1.1.2")
    assert alice.post("你好", client_id="same-id-0001").status_code == 200
    bob_answer = bob.post("水管爆了，到处是水", client_id="same-id-0001").get_json()
    assert bob_answer["message_id"] != 0 and bob_answer["replies"]
    assert count(demo_session, Case) == 1
    assert count(demo_session, Contact) == 2


def test_a_failing_bot_loses_nothing_and_the_retry_answers(
    client: FlaskClient, demo_session: Session
) -> None:
    """The bot fails: 200 without replies, the message stays; the page's retry gets the answer."""

    class Broken:
        def parse(self, text: str) -> dict[str, object]:
            raise RuntimeError("model exploded")

    browser = Browser(client)
    understanding.use_interpreter(Broken())
    failed = browser.post("你好", client_id="retry-0001")
    assert failed.status_code == 200 and failed.get_json()["replies"] == []
    demo_session.rollback()
    message = demo_session.scalars(select(Message)).one()
    assert message.status is MessageStatus.RECEIVED and message.attempts == 1
    message_id = message.id
    demo_session.rollback()  # end the read: the app writes next
    understanding.use_interpreter(project_model())
    retried = browser.post("你好", client_id="retry-0001").get_json()
    assert retried["message_id"] == message_id and retried["replies"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "bad_json"),
        (b'["a list"]', "application/json", 400, "bad_json"),
        (DEEP_LIST, "application/json", 400, "bad_json"),
        (
            b'{"text": "hi", "client_id": "deep-0001", "x": ' + DEEP_LIST + b"}",
            "application/json",
            400,
            "bad_json",
        ),
        (
            b'{"text": "\xb7\xbe\xb5\xc6", "client_id": "gbk-00001"}',
            "application/json",
            400,
            "bad_encoding",
        ),
        (
            json.dumps({"text": "", "client_id": "empty-0001"}).encode(),
            "application/json",
            400,
            "text_required",
        ),
        (
            json.dumps({"text": "  \n ", "client_id": "blank-0001"}).encode(),
            "application/json",
            400,
            "text_required",
        ),
        (
            json.dumps({"text": 5, "client_id": "int-00001"}).encode(),
            "application/json",
            400,
            "text_required",
        ),
        (
            json.dumps({"text": "路" * 2001, "client_id": "huge-0001"}).encode(),
            "application/json",
            400,
            "text_too_long",
        ),
        (json.dumps({"text": "你好"}).encode(), "application/json", 400, "client_id_required"),
        (
            json.dumps({"text": "你好", "client_id": "a b"}).encode(),
            "application/json",
            400,
            "client_id_required",
        ),
        (
            json.dumps({"text": "你好", "client_id": "form-0001"}).encode(),
            "text/plain",
            415,
            "unsupported_media_type",
        ),
        (TOO_LARGE, "application/json", 413, "request_entity_too_large"),
    ],
)
def test_bad_input_gets_a_clear_json_error(
    client: FlaskClient,
    demo_session: Session,
    data: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    """Bad JSON, no text, too long, not UTF-8, no client id: a 4xx with a code; nothing stored."""
    response = client.post("/api/chat", data=data, content_type=content_type)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert count(demo_session, Message) == 0


def test_exactly_2000_characters_and_odd_text_are_accepted(
    client: FlaskClient, demo_session: Session
) -> None:
    """The limit is inclusive; NUL and lone surrogates are cleaned, not refused."""
    browser = Browser(client)
    assert browser.post("路" * 2000).status_code == 200
    odd = json.dumps(
        {"token": browser.token, "text": "路灯\x00坏了\ud800😀", "client_id": "odd-0001"}
    )
    assert "\\ud800" in odd  # a lone surrogate, escaped as browsers send it
    response = client.post("/api/chat", data=odd, content_type="application/json")
    assert response.status_code == 200
    demo_session.rollback()
    stored = demo_session.scalars(
        select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id)
    ).all()
    assert len(stored) == 2 and "\x00" not in stored[1].body and "坏了" in stored[1].body


def test_forged_or_foreign_tokens_are_refused(app: Flask, client: FlaskClient) -> None:
    """Made-up, tampered and other-key tokens: 403; no token on GET: 401."""
    alice = Browser(client)
    alice.say("你好")
    raw, _dot, signature = alice.token.rpartition(".")
    other_key = chat.issue_token("another-secret").token
    for forged in ("made-up", f"{raw}x.{signature}", f"{raw}.{signature[:-2]}AA", other_key):
        refused = client.post(
            "/api/chat", json={"token": forged, "text": "你好", "client_id": "forged-0001"}
        )
        assert refused.status_code == 403, forged
        assert refused.get_json()["error"]["code"] == "invalid_token"
        assert alice.fetch(token=forged).status_code == 403
    missing = client.get("/api/chat")
    assert missing.status_code == 401 and missing.get_json()["error"]["message"]
    bad_type = client.post("/api/chat", json={"token": 7, "text": "hi", "client_id": "type-0001"})
    assert bad_type.status_code == 403


def test_one_browser_never_reads_another_conversation(
    client: FlaskClient, demo_session: Session
) -> None:
    """Each token sees only its own messages; the token also works in the query string."""
    alice, bob = Browser(client, "10.1.1.1"), Browser(client, "10.1.1.2")
    alice.say("水管爆了，到处是水")
    bob.say("你好")
    alice_texts = [m["text"] for m in alice.fetch().get_json()["messages"]]
    bob_view = client.get(f"/api/chat?token={bob.token}&after=0").get_json()
    bob_texts = [m["text"] for m in bob_view["messages"]]
    assert "水管爆了，到处是水" in alice_texts and "水管爆了，到处是水" not in bob_texts
    assert bob_texts[0] == "你好" and len(bob_texts) >= 2


def test_history_comes_back_on_reload_in_order(client: FlaskClient) -> None:
    """after=0 lists the conversation, in and out, oldest first, with the last id."""
    browser = Browser(client)
    first = browser.post("你好").get_json()
    second = browser.post("水管爆了，到处是水").get_json()
    history = browser.fetch().get_json()
    ids = [m["id"] for m in history["messages"]]
    expected = [first["message_id"], *first["reply_ids"], second["message_id"]]
    expected += second["reply_ids"]
    assert ids == expected and history["last_id"] == ids[-1]
    assert history["messages"][0]["direction"] == "inbound"
    assert history["messages"][1]["direction"] == "outbound"
    assert browser.fetch(after=ids[-1]).get_json() == {"messages": [], "last_id": ids[-1]}
    assert browser.fetch(after="x").status_code == 400  # type: ignore[arg-type]


def test_later_notifications_are_fetched_and_marked_delivered(
    client: FlaskClient, demo_session: Session
) -> None:
    """A message queued for the web conversation is shown once and marked delivered."""
    browser = Browser(client)
    case, _received = report_street_light(browser, demo_session)
    last = browser.fetch().get_json()["last_id"]
    demo_session.rollback()  # a fresh snapshot: SQLite refuses writes from a stale one
    contact = demo_session.scalars(select(Contact)).one()
    queued = queue_outbound_message(demo_session, contact, "您的诉求已交办城关城市管理中队。", case)
    demo_session.commit()
    assert queued.channel is Channel.WEB and queued.status is MessageStatus.QUEUED
    queued_id = queued.id
    demo_session.rollback()  # end the read: the fetch writes next
    fetched = browser.fetch(after=last).get_json()
    assert [m["text"] for m in fetched["messages"]] == ["您的诉求已交办城关城市管理中队。"]
    assert fetched["messages"][0]["id"] == queued_id == fetched["last_id"]
    demo_session.expire_all()
    delivered = demo_session.get(Message, queued_id)
    assert delivered is not None and delivered.status is MessageStatus.DELIVERED
    assert delivered.sent_at is not None
    assert browser.fetch(after=fetched["last_id"]).get_json()["messages"] == []


def test_opted_out_messages_are_not_shown(client: FlaskClient, demo_session: Session) -> None:
    """Suppressed notifications (the resident opted out) never reach the page."""
    browser = Browser(client)
    browser.say("你好")
    contact = demo_session.scalars(select(Contact)).one()
    contact.opted_out = True
    suppressed = queue_outbound_message(demo_session, contact, "不应显示")
    demo_session.commit()
    assert suppressed.status is MessageStatus.SUPPRESSED
    texts = [m["text"] for m in browser.fetch().get_json()["messages"]]
    assert "不应显示" not in texts


def limited_app(engine: Engine, folder: Path, **settings: Any) -> Flask:
    """An app with small chat limits."""
    return make_app(
        engine,
        folder,
        CHAT_RATE_LIMIT_TOKEN="3 per minute",
        CHAT_RATE_LIMIT_IP="5 per minute",
        CHAT_POLL_RATE_LIMIT_TOKEN="2 per minute",
        **settings,
    )


def check_limits(client: FlaskClient) -> None:
    """Per token 3, per address 5, polls on their own budget: then a JSON 429.

    A first message (no token yet) counts per address, as starting a conversation.
    """
    alice = Browser(client, "10.2.2.2")
    for _ in range(4):
        assert alice.post("你好").status_code == 200
    limited = alice.post("你好")
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    assert "wait a minute" in limited.get_json()["error"]["message"]
    # One address, two conversations within their own limits: the address runs out at 5.
    bob, carol = Browser(client, "10.4.4.4"), Browser(client, "10.4.4.4")
    for browser in (bob, bob, bob, carol, carol):
        assert browser.post("你好").status_code == 200
    assert carol.post("你好").status_code == 429
    # Another address is not affected.
    assert Browser(client, "10.3.3.3").post("你好").status_code == 200
    # Polling counts separately, per token.
    assert alice.fetch().status_code == 200
    assert alice.fetch().status_code == 200
    assert alice.fetch().status_code == 429
    assert bob.fetch().status_code == 200


def test_rate_limits_per_token_and_per_address(
    demo_session: Session, engine: Engine, tmp_path: Path
) -> None:
    """Limits in memory (embedded mode)."""
    understanding.use_interpreter(project_model())
    try:
        check_limits(limited_app(engine, tmp_path).test_client())
    finally:
        understanding.use_interpreter(None)


def test_rate_limits_count_in_redis(
    demo_session: Session, engine: Engine, tmp_path: Path, redis_url: str
) -> None:
    """With Redis configured the counts live there, shared by every web process."""
    understanding.use_interpreter(project_model())
    try:
        check_limits(limited_app(engine, tmp_path / "a", redis_url=redis_url).test_client())
        # A second process (another app on the same Redis) sees the spent budget.
        other = limited_app(engine, tmp_path / "b", redis_url=redis_url).test_client()
        assert Browser(other, "10.4.4.4").post("你好").status_code == 429
    finally:
        understanding.use_interpreter(None)


def test_chat_keeps_answering_when_redis_is_unreachable(
    demo_session: Session, engine: Engine, tmp_path: Path
) -> None:
    """Limits stored in a Redis that is down fall back to memory instead of failing requests."""
    understanding.use_interpreter(project_model())
    try:
        app = limited_app(engine, tmp_path, redis_url="redis://127.0.0.1:1/0")
        browser = Browser(app.test_client(), "10.5.5.5")
        statuses = [browser.post("你好").status_code for _ in range(5)]
        assert statuses[:4] == [200] * 4 and statuses[4] == 429
    finally:
        understanding.use_interpreter(None)


@pytest.mark.parametrize(
    ("data", "status"),
    [(DEEP_LIST, 400), (b"\xff{", 400), (TOO_LARGE, 413)],
    ids=["nested", "not-utf8", "too-large"],
)
def test_unreadable_bodies_count_against_the_address(
    demo_session: Session, engine: Engine, tmp_path: Path, data: bytes, status: int
) -> None:
    """A body the limiter cannot read names no token: it counts per address, never unlimited."""
    app = make_app(
        engine, tmp_path, CHAT_RATE_LIMIT_TOKEN="2 per minute", CHAT_RATE_LIMIT_IP="100 per minute"
    )
    client = app.test_client()
    statuses = [
        client.post(
            "/api/chat",
            data=data,
            content_type="application/json",
            environ_base={"REMOTE_ADDR": "10.6.6.6"},
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [status, status, 429]
    with app.test_request_context(
        "/api/chat",
        method="POST",
        data=data,
        content_type="application/json",
        environ_base={"REMOTE_ADDR": "10.6.6.6"},
    ):
        assert chat.token_key() == "chat-new:10.6.6.6"


def test_the_limits_come_from_the_settings(
    demo_session: Session, engine: Engine, tmp_path: Path
) -> None:
    """ZHITONG_CHAT_RATE_LIMIT_IP sets the per-address budget (before, only code could)."""
    understanding.use_interpreter(project_model())
    try:
        client = make_app(engine, tmp_path, chat_rate_limit_ip="2 per minute").test_client()
        statuses = [Browser(client, address="10.9.9.9").post("你好").status_code for _ in range(3)]
    finally:
        understanding.use_interpreter(None)
    assert statuses == [200, 200, 429]
