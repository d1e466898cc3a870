"""The web chat page in a real browser (Debian's Chromium) on a phone-sized screen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from cases.db import session_scope
from cases.models import Case, Contact
from cases.models.messaging import Channel, MessageStatus
from tests.browser.server import CHROMIUM, IN_CI, LiveConsole, chromium_page, live_console
from tests.fixtures.nlu import project_model
from webhooks.console.messaging import queue_outbound_message
from worker import understanding

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} is missing: run scripts/browser.sh (installs Debian's chromium)"
    if IN_CI:
        pytest.fail(f"CI requires the browser tests: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

PHONE = {"width": 360, "height": 640}
CONCERN = "水管爆了，到处是水"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    """The app served on a local port with the demo county and the project's intent model."""
    understanding.use_interpreter(project_model())
    understanding.forget_gazetteer()
    try:
        with live_console(tmp_path_factory.mktemp("chat")) as served:
            yield served
    finally:
        understanding.use_interpreter(None)
        understanding.forget_gazetteer()


@pytest.fixture
def page(console: LiveConsole) -> Iterator[Any]:
    """A fresh phone-sized page whose every request is recorded."""
    with chromium_page(viewport=PHONE, locale="zh-CN") as opened:
        opened.requested = []
        opened.on("request", lambda request: opened.requested.append(request.url))
        yield opened


def test_report_reload_and_notification_on_a_phone(page: Any, console: LiveConsole) -> None:
    """Type a concern, get the receipt, reload: the history stays; a later notice arrives."""
    page.goto(f"{console.url}/chat")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    button = page.locator("#submit").bounding_box()
    assert button is not None and button["height"] >= 44  # a thumb-sized tap target

    page.fill("#text", CONCERN)
    page.press("#text", "Enter")  # Enter sends
    reply = page.locator("#thread li.outbound[data-id]").first
    reply.wait_for()
    with session_scope(console.services.sessions) as session:
        case = session.scalars(select(Case).where(Case.channel == Channel.WEB)).one()
        number = case.number
        contact = session.get(Contact, case.contact_id)
        assert contact is not None and contact.kind.value == "web"
    assert number in page.locator("#thread .case-number").first.inner_text()
    assert page.input_value("#text") == ""
    token = page.evaluate("localStorage.getItem('zhitong.chat.token')")
    assert token and page.context.cookies() == []

    page.reload()
    page.locator(f"#thread li.inbound[data-id]:has-text('{CONCERN}')").wait_for()
    assert number in page.inner_text("#thread")
    assert page.locator(f"#thread li.inbound:has-text('{CONCERN}')").count() == 1

    # A status change queued for this conversation shows when the page next asks for news.
    with session_scope(console.services.sessions) as session:
        contact = session.scalars(select(Contact).where(Contact.address.like("web:%"))).one()
        stored = session.scalars(select(Case).where(Case.number == number)).one()
        notice = queue_outbound_message(
            session, contact, "您的诉求已交办，请留意后续通知。", stored
        )
        session.flush()
        notice_id = notice.id
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.locator(f"#thread li[data-id='{notice_id}']").wait_for()
    with session_scope(console.services.sessions) as session:
        delivered = session.get(type(notice), notice_id)
        assert delivered is not None and delivered.status is MessageStatus.DELIVERED

    # Clearing forgets the conversation in this browser only.
    page.click("#forget")
    assert page.locator("#thread li[data-id]").count() == 0
    assert page.evaluate("localStorage.getItem('zhitong.chat.token')") is None

    outside = [url for url in page.requested if not url.startswith(console.url)]
    assert outside == []


def test_english_page_and_shift_enter(console: LiveConsole) -> None:
    """A browser preferring English gets English; Shift+Enter makes a new line, not a send."""
    with chromium_page(viewport=PHONE, locale="en-US") as page:
        page.goto(f"{console.url}/chat")
        assert page.locator("#submit").inner_text() == "Send"
        page.fill("#text", "line one")
        page.press("#text", "Shift+Enter")
        page.type("#text", "line two")
        assert page.input_value("#text") == "line one\nline two"
        assert page.locator("#thread li.inbound").count() == 0
