"""民情专报 for a year of cases: how long `zhitong report --pdf` takes on PostgreSQL.

Seeds a fresh PostgreSQL database holding the demo county with 100,000 cases received over the
twelve months up to November 2026 — each with its create/accept events, most resolved (some
late, some after a return or escalation), many rated, a few reopened — by bulk INSERT, then
times the November report: figures, clusters, charts, HTML and PDF. The target is 30 s.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from bench import Figure, figure
from bench.fixtures import demo_database, scale
from cases.db import make_session_factory, session_scope
from cases.models import Area, Case, CaseEvent, Rating
from cases.models.directory import AreaLevel
from cases.routing import route_case
from intents.catalog import CatalogItem, catalog
from worker.reports import write_report

ZONE = ZoneInfo("Asia/Shanghai")
FIRST_DAY = dt.date(2025, 12, 1)
DAYS = 365
TARGET_SECONDS = 30.0
BATCH = 5000
CHANNELS = ("sms", "sms", "sms", "voice", "voice", "wechat", "wechat", "web", "walk_in", "patrol")
# What residents write, per kind of problem; {v} is the village, {n} a number of days.
TEXTS = {
    "infra_streetlight": ["{v}村口路灯坏了{n}天，晚上很黑", "{v}主路路灯不亮已经{n}天了"],
    "infra_road": ["{v}进村道路坑洼严重，下雨天没法走", "{v}村道塌方{n}米，车过不去"],
    "infra_water": ["{v}自来水停水{n}天了", "{v}自来水水压太低，楼上没水"],
    "env_garbage": ["{v}垃圾桶满了没人清运，臭气熏天", "{v}河边有人乱倒垃圾"],
    "env_pollution": ["{v}附近工厂晚上排黑烟", "{v}养殖场污水直排入河"],
    "safety_fire_hazard": ["{v}老房子电线乱拉，有火灾隐患"],
    "dispute_neighbor": ["{v}邻居占道堆放杂物，协商不成"],
}


def run() -> Iterator[Figure]:
    """Seed a year of cases on PostgreSQL and time the monthly report."""
    count = scale(100_000)
    with demo_database("postgresql") as engine:
        started = time.perf_counter()
        seeded = seed_year(engine, count, random.Random(7))
        yield figure(
            "report.seed_seconds.postgresql",
            time.perf_counter() - started,
            "s",
            cases=count,
            events=seeded,
        )
        with tempfile.TemporaryDirectory() as folder:
            yield _time_report(engine, Path(folder), count, pdf=False)
            yield _time_report(engine, Path(folder), count, pdf=True)


def _time_report(engine: Engine, folder: Path, count: int, *, pdf: bool) -> Figure:
    sessions = make_session_factory(engine)
    started = time.perf_counter()
    with session_scope(sessions) as session:
        path = write_report(
            session, "2026-11", folder, ZONE, now=dt.datetime(2026, 12, 1, 9, tzinfo=ZONE), pdf=pdf
        )
    elapsed = time.perf_counter() - started
    name = "report.pdf_seconds.postgresql" if pdf else "report.html_seconds.postgresql"
    return figure(name, elapsed, "s", cases=count, target=TARGET_SECONDS, bytes=path.stat().st_size)


def seed_year(engine: Engine, count: int, rng: random.Random) -> int:
    """Insert `count` cases spread over a year, with their events and ratings; events inserted."""
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        places = _places(session)
        routes = _Routes(session)
        items = list(catalog().items)
        weights = [6 if item.kind == "concern" else 2 for item in items]
        per_day: dict[dt.date, int] = {}
        cases: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        ratings: list[dict[str, Any]] = []
        inserted_events = 0
        for case_id in range(1, count + 1):
            item = rng.choices(items, weights)[0]
            village_id, village_name = rng.choice(places)
            day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
            per_day[day] = per_day.get(day, 0) + 1
            row, case_events, rating = _case(
                case_id,
                item,
                (village_id, village_name),
                day,
                per_day[day],
                routes(item, village_id),
                rng,
            )
            cases.append(row)
            events += case_events
            if rating:
                ratings.append(rating)
            if len(cases) >= BATCH:
                inserted_events += _flush(engine, cases, events, ratings)
        inserted_events += _flush(engine, cases, events, ratings)
    with engine.begin() as connection:
        connection.execute(text("SELECT setval('cases_id_seq', (SELECT max(id) FROM cases))"))
        connection.execute(text("ANALYZE"))
    return inserted_events


def _case(
    case_id: int,
    item: CatalogItem,
    village: tuple[int, str],
    day: dt.date,
    sequence: int,
    route: tuple[int, int | None],
    rng: random.Random,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    received = dt.datetime.combine(day, dt.time(8), ZONE) + dt.timedelta(
        minutes=rng.randrange(10 * 60)
    )
    limit = dt.timedelta(days=max(item.time_limit.working_days or 1, 1) * 7 / 5)
    due = received + limit
    village_id, village_name = village
    department_id, town_id = route
    texts = TEXTS.get(item.code, [f"{{v}}办理{item.zh}的事情想咨询"])
    description = rng.choice(texts).format(v=village_name, n=rng.randrange(2, 9))
    if rng.random() < 0.1:
        description += "，我的电话1380013" + f"{rng.randrange(10_000):04d}"
    events = [
        _event(case_id, "create", received, None, "new"),
        _event(case_id, "accept", received, "new", "accepted"),
    ]
    status, resolved_at, rating = "accepted", None, None
    if rng.random() < 0.05:
        events.append(
            _event(
                case_id,
                rng.choice(["return", "escalate"]),
                received + limit / 4,
                "accepted",
                "accepted",
            )
        )
    if rng.random() < 0.88:
        late = rng.random() < 0.08
        resolved_at = received + (limit * rng.uniform(1.05, 2) if late else limit * rng.random())
        events.append(_event(case_id, "resolve", resolved_at, "accepted", "resolved"))
        status = "resolved"
        if rng.random() < 0.7:
            score = rng.choices([1, 2, 3, 4, 5], [60, 25, 8, 5, 2])[0]
            rated_at = resolved_at + dt.timedelta(days=1)
            events.append(_event(case_id, "rate", rated_at, "resolved", "rated"))
            rating = {
                "case_id": case_id,
                "score": score,
                "channel": "sms",
                "comment": "",
                "at": rated_at,
            }
            status = "rated"
            if score >= 4:
                events.append(_event(case_id, "reopen", rated_at, "rated", "reopened"))
                status, resolved_at = "reopened", None
    row = {
        "id": case_id,
        "number": f"{day:%Y%m%d}{sequence:04d}",
        "item_code": item.code,
        "category_code": item.category,
        "kind": item.kind,
        "handling": item.handling,
        "status": status,
        "channel": rng.choice(CHANNELS),
        "summary": description[:200],
        "description": description,
        "area_id": village_id,
        "town_id": town_id,
        "department_id": department_id,
        "needs_review": False,
        "urgent": False,
        "warning_level": "red"
        if status in {"accepted", "reopened"} and due.date() < dt.date(2026, 12, 1)
        else "none",
        "received_at": received,
        "due_at": due,
        "yellow_at": received + limit / 2,
        "orange_at": received + limit * 0.8,
        "paused_seconds": 0,
        "extension_days": 0,
        "resolved_at": resolved_at,
        "result_text": "已办结" if resolved_at else "",
        "reason": "",
        "escalation_count": 0,
        "return_count": 0,
        "reopen_count": int(status == "reopened"),
        "created_at": received,
        "updated_at": resolved_at or received,
        "version": 1,
    }
    return row, events, rating


def _event(
    case_id: int, action: str, at: dt.datetime, before: str | None, after: str
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "action": action,
        "actor_type": "system",
        "actor_name": "bench",
        "at": at,
        "from_status": before,
        "to_status": after,
        "note": "",
        "visible_to_resident": False,
        "data": {},
    }


def _flush(
    engine: Engine,
    cases: list[dict[str, Any]],
    events: list[dict[str, Any]],
    ratings: list[dict[str, Any]],
) -> int:
    inserted = len(events)
    with engine.begin() as connection:
        if cases:
            connection.execute(insert(Case), cases)
        if events:
            connection.execute(insert(CaseEvent), events)
        if ratings:
            connection.execute(insert(Rating), ratings)
    cases.clear()
    events.clear()
    ratings.clear()
    return inserted


def _places(session: Session) -> list[tuple[int, str]]:
    rows = session.execute(
        select(Area.id, Area.name).where(Area.level == AreaLevel.VILLAGE).order_by(Area.id)
    )
    return [(row.id, row.name) for row in rows]


class _Routes:
    """The owning unit and town of an item from a village, as intake routes it (memoised)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.known: dict[tuple[str, str, int], tuple[int, int | None]] = {}

    def __call__(self, item: CatalogItem, village_id: int) -> tuple[int, int | None]:
        key = (item.level, item.department, village_id)
        if key not in self.known:
            route = route_case(self.session, item, self.session.get(Area, village_id))
            self.known[key] = (route.department.id, route.town.id if route.town else None)
        return self.known[key]
