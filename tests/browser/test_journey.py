"""The main journey in a real browser (Debian's Chromium): review, reclassify, dispatch, resolve."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from cases.db import session_scope
from cases.demo import DEMO_PASSWORD
from cases.models import Case, Contact, Message
from cases.models.cases import CaseStatus
from cases.models.messaging import Direction, MessageStatus
from tests.browser.seed import seed_low_confidence_case
from tests.browser.server import CHROMIUM, IN_CI, LiveConsole, chromium_page, live_console

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} is missing: run scripts/browser.sh (installs Debian's chromium)"
    if IN_CI:
        pytest.fail(f"CI requires the browser tests: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    """The console served on a local port with the demo county."""
    with live_console(tmp_path_factory.mktemp("browser")) as served:
        yield served


@pytest.fixture
def page(console: LiveConsole) -> Iterator[Any]:
    """A fresh browser page."""
    with chromium_page() as opened:
        yield opened


def sign_in(page: Any, console: LiveConsole, username: str) -> None:
    """Sign in through the form."""
    page.goto(f"{console.url}/console/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{console.url}/console/")


def do(page: Any, action: str) -> None:
    """Press an action's button and wait for the case page to come back."""
    page.click(f'button[data-action="{action}"]')
    page.wait_for_load_state()
    assert page.locator(".flash.ok").count() == 1, page.locator(".flash").all_inner_texts()


def test_review_reclassify_dispatch_sign_resolve(page: Any, console: LiveConsole) -> None:
    """A town worker takes a low-confidence bot case to resolution; the resident gets the result."""
    number = seed_low_confidence_case(console.services)
    sign_in(page, console, "town_chengguan")
    page.click(f"#review >> text={number}")
    page.wait_for_url(f"**/console/cases/{number}")
    assert "待审核" in page.inner_text("#status")

    page.click("summary:has-text('改分类')")
    page.select_option("#item_code", "infra_streetlight")
    do(page, "reclassify")
    do(page, "accept")
    page.click("summary:has-text('交办')")
    page.select_option("#department_id", label="城关城市管理中队")
    do(page, "dispatch")
    do(page, "sign")
    page.fill("#resolve-note", "路灯已更换，今晚起恢复照明。")
    do(page, "resolve")

    assert "已办结" in page.inner_text("#status")
    # The result goes to the resident through the notification job (the embedded worker).
    deadline = time.monotonic() + 20
    while "路灯已更换" not in page.inner_text("#transcript"):
        assert time.monotonic() < deadline, "the result message never reached the transcript"
        page.wait_for_timeout(300)
        page.reload()
    with session_scope(console.services.sessions) as session:
        case = session.scalars(select(Case).where(Case.number == number)).one()
        assert case.status is CaseStatus.RESOLVED and case.item_code == "infra_streetlight"
        result = session.scalars(
            select(Message).where(
                Message.case_id == case.id,
                Message.direction == Direction.OUTBOUND,
                Message.body.contains("路灯已更换"),
            )
        ).one()
        assert result.contact_id == case.contact_id
        assert result.status in {MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT}
        contact = session.get(Contact, case.contact_id)
        assert contact is not None and contact.phone
        phone = contact.phone

    # The resident's phone, in the simulator: the result message arrives there.
    page.goto(f"{console.url}/simulator")
    page.fill("#phone", phone)
    page.dispatch_event("#phone", "change")
    page.wait_for_selector("#thread .outbound:has-text('路灯已更换')", timeout=10_000)


def test_phone_layout_and_english(page: Any, console: LiveConsole) -> None:
    """On a phone the queue fits the screen's width; the English switch works."""
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, console, "supervisor")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400
    page.click("text=English")
    page.wait_for_load_state()
    assert "Work that needs a person" in page.inner_text("h1")
