"""Screenshots of the console for docs/console.md: `python -m tests.browser.screenshots`.

Serves the demo county with a few cases in every state, drives Debian's Chromium through the
pages at 1366×768 (and one phone-sized view), and writes PNG files to docs/screenshots/.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from sqlalchemy import select

from cases.db import session_scope
from cases.demo import DEMO_PASSWORD
from cases.lifecycle import ActionContext, Actor, perform
from cases.models import Case, Rating
from cases.models.cases import ActorType, WarningLevel
from cases.models.messaging import Channel
from tests.browser.seed import seed_low_confidence_case
from tests.browser.server import CHROMIUM, LiveConsole, chromium_page, live_console

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
STORIES = [
    ("infra_water", "chengguan.ximen.g1", "西门社区自来水发黄，已经两天了", 0.92),
    ("env_garbage", "chengguan.nanjie.g2", "南街菜市场后面的垃圾三天没人清运", 0.88),
    ("social_elderly_allowance", "chengguan.dongmen.g2", "我父亲今年八十岁，想申请高龄津贴", 0.95),
    ("infra_road", "dongao", "东澳镇渔港路面塌陷，车辆无法通行", 0.81),
    ("dispute_neighbor", "chengguan.xibin.g1", "楼上邻居装修噪音很大，晚上十点还在施工", 0.42),
]


def seed(console: LiveConsole) -> str:
    """Cases in several states and colours; returns the number of one to review."""
    for index, (item, place, text, confidence) in enumerate(STORIES):
        seed_low_confidence_case(
            console.services,
            phone=f"+86139000118{index:02d}",
            text=text,
            item=item,
            place=place,
            confidence=confidence,
        )
    review = seed_low_confidence_case(console.services)
    clock = console.services.clock
    actor = Actor(ActorType.AGENT, 1, "林国庆")
    with session_scope(console.services.sessions) as session:
        cases = list(session.scalars(select(Case).order_by(Case.id)))
        colours = [WarningLevel.RED, WarningLevel.YELLOW, WarningLevel.NONE, WarningLevel.ORANGE]
        for case, colour in zip(cases, colours, strict=False):
            case.warning_level = colour
        done = cases[2]
        context = ActionContext(now=done.received_at, clock=clock)
        session.add(
            perform(done, "resolve", actor, context, note="已受理高龄津贴申请，下月起发放。")
        )
        session.add(
            Rating(
                case_id=done.id,
                contact_id=done.contact_id,
                score=1,
                channel=Channel.SMS,
                at=done.received_at,
            )
        )
    return review


def main() -> int:
    """Take the screenshots; exit 1 when Debian's Chromium is missing."""
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: run scripts/browser.sh first", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, live_console(Path(folder)) as console:
        number = seed(console)
        with chromium_page() as page:
            page.goto(f"{console.url}/console/login")
            page.screenshot(path=OUT / "login.png")
            page.fill("#username", "supervisor")
            page.fill("#password", DEMO_PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_url(f"{console.url}/console/")
            shots = {
                "work-queue.png": "/console/",
                "cases.png": "/console/cases?status=open",
                "case.png": f"/console/cases/{number}",
                "register.png": "/console/register",
                "slip.png": f"/console/cases/{number}/slip",
                "dashboard.png": "/console/dashboard",
            }
            for name, path in shots.items():
                page.goto(f"{console.url}{path}")
                page.screenshot(path=OUT / name, full_page=name != "cases.png")
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"{console.url}/console/cases/{number}")
            page.screenshot(path=OUT / "case-phone.png")
    print(f"screenshots written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
