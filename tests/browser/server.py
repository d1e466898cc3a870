"""A live console for browser tests and screenshots: SQLite, demo county, a thread-served app
with the embedded job worker, as `zhitong serve` runs it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from cases import migrate
from cases.db import session_scope
from cases.demo import load_demo_county
from cases.settings import load_settings
from webhooks.app import create_app
from webhooks.extensions import Services, build_services
from worker.queue import start_embedded_worker

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass
class LiveConsole:
    """The running app: its address and its services (for seeding and checking the database)."""

    url: str
    services: Services


@contextmanager
def live_console(folder: Path) -> Iterator[LiveConsole]:
    """Serve the app in demo mode on a free local port until the block ends."""
    settings = load_settings(
        instance_path=folder,
        secret_key="browser-test",
        demo=True,
        log_format="text",
        # No quiet hours: notifications go out whatever time of day the tests run.
        quiet_hours_start="00:00",
        quiet_hours_end="00:00",
    )
    services = build_services(settings)
    migrate.upgrade(services.engine)
    with session_scope(services.sessions) as session:
        load_demo_county(session)
    server = make_server("127.0.0.1", 0, create_app(settings, services), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    jobs = start_embedded_worker(services.redis)  # as `zhitong serve` runs them
    try:
        yield LiveConsole(f"http://127.0.0.1:{server.server_port}", services)
    finally:
        jobs.stop()
        server.shutdown()
        thread.join(timeout=5)
        services.close()


@contextmanager
def chromium_page(**context: Any) -> Iterator[Any]:
    """A page of Debian's headless Chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(**({"viewport": {"width": 1366, "height": 768}} | context))
            page.set_default_timeout(10_000)
            yield page
        finally:
            browser.close()
