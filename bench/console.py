"""Agent console response times on PostgreSQL with a year of 100,000 cases.

The cases, their events and ratings are seeded in a few set-based INSERT … SELECT statements
(not `open_case`: that is measured by `bench.cases`). Every page is requested through the real
app (sign-in, scope, query, template), as a county supervisor, who sees the whole county — the
largest scope. Targets: the case list p95 < 300 ms for the filter combinations the UI offers;
the dashboard for a year < 1 s.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine, select, text

from bench import Figure, figure
from bench.fixtures import demo_database, scale
from cases.calendar import make_calendar
from cases.clock import Clock, OfficeHours
from cases.db import make_session_factory
from cases.demo import DEMO_PASSWORD
from cases.models import Area, Department
from cases.models.directory import AreaLevel
from cases.settings import load_settings
from intents.catalog import catalog
from webhooks.app import create_app
from webhooks.extensions import Services
from worker.queue import redis_connection

YEAR_START = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
YEAR_END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
REPEAT = 15


def run() -> Iterator[Figure]:
    """Seed PostgreSQL, then time the case list, the work queue and the dashboard."""
    count = scale(100_000)
    with demo_database("postgresql") as engine:
        started = time.perf_counter()
        seed(engine, count)
        yield figure("console.seed_seconds", time.perf_counter() - started, "s", cases=count)
        with tempfile.TemporaryDirectory() as folder:
            client = signed_in_client(engine, Path(folder))
            filters = filter_combinations(engine)
            timings = [_time(client, url) for url in filters for _ in range(REPEAT)]
            yield figure(
                "console.case_list_p95",
                _p95(timings),
                "ms",
                cases=count,
                combinations=len(filters),
                requests=len(timings),
                target="< 300 ms",
            )
            worst = max(filters, key=lambda url: _p95([_time(client, url) for _ in range(5)]))
            yield figure(
                "console.case_list_worst_p95",
                _p95([_time(client, worst) for _ in range(REPEAT)]),
                "ms",
                url=worst,
            )
            yield figure(
                "console.work_queue_p95",
                _p95([_time(client, "/console/") for _ in range(REPEAT)]),
                "ms",
                cases=count,
            )
            year = "/console/dashboard?from=2025-12-01&to=2026-11-30"
            yield figure(
                "console.dashboard_year",
                _p95([_time(client, year) for _ in range(5)]),
                "ms",
                cases=count,
                target="< 1000 ms",
            )


def seed(engine: Engine, count: int) -> None:
    """A year of cases across the demo county, with events and ratings, in bulk."""
    sessions = make_session_factory(engine)
    with sessions() as session:
        villages = list(
            session.execute(
                select(Area.id, Area.parent_id).where(Area.level == AreaLevel.VILLAGE)
            ).all()
        )
        units = list(session.scalars(select(Department.id).order_by(Department.id)))
    items = catalog().items
    span = (YEAR_END - YEAR_START).total_seconds()
    params: dict[str, Any] = {
        "n": count,
        "items": [item.code for item in items],
        "categories": [item.category for item in items],
        "kinds": [item.kind for item in items],
        "villages": [village for village, _town in villages],
        "towns": [town for _village, town in villages],
        "units": units,
        "start": YEAR_START,
        "step": span / count,
    }
    statements = [
        """
        INSERT INTO contacts (kind, address, phone, name, language, opted_out, created_at)
        SELECT 'phone', '+86139' || lpad(g::text, 8, '0'), '+86139' || lpad(g::text, 8, '0'),
               '', 'zh', false, :start
        FROM generate_series(1, greatest(:n / 5, 1)) AS g
        """,
        """
        INSERT INTO cases (number, item_code, category_code, kind, handling, status, channel,
            summary, description, area_id, town_id, department_id, contact_id, confidence,
            needs_review, urgent, warning_level, received_at, due_at, yellow_at, orange_at,
            paused_seconds, extension_days, result_text, reason, escalation_count, return_count,
            reopen_count, created_at, updated_at, version)
        SELECT to_char(:start + make_interval(secs => g * CAST(:step AS float)), 'YYYYMMDD')
                || lpad(g::text, 6, '0'),
            (CAST(:items AS text[]))[1 + g % cardinality(CAST(:items AS text[]))],
            (CAST(:categories AS text[]))[1 + g % cardinality(CAST(:items AS text[]))],
            (CAST(:kinds AS text[]))[1 + g % cardinality(CAST(:items AS text[]))],
            'promised',
            (ARRAY['new','accepted','dispatched','in_progress','awaiting_materials','resolved',
                   'rated','rated','closed','closed','closed','closed','rejected','merged'])
                [1 + (g * 7) % 14],
            (ARRAY['sms','voice','wechat','web','walk_in','patrol','whatsapp'])[1 + g % 7],
            '第' || g || '号诉求：路灯不亮、道路破损、垃圾未清运',
            '群众反映第' || g || '号问题，请尽快处理。',
            (CAST(:villages AS int[]))[1 + g % cardinality(CAST(:villages AS int[]))],
            (CAST(:towns AS int[]))[1 + g % cardinality(CAST(:villages AS int[]))],
            (CAST(:units AS int[]))[1 + (g * 13) % cardinality(CAST(:units AS int[]))],
            1 + g % greatest(:n / 5, 1),
            CASE WHEN g % 3 = 0 THEN 0.4 ELSE 0.9 END,
            (g * 7) % 14 = 0 AND g % 3 = 0,
            false,
            (ARRAY['none','none','none','yellow','orange','red'])[1 + g % 6],
            :start + make_interval(secs => g * CAST(:step AS float)),
            :start + make_interval(secs => g * CAST(:step AS float)) + interval '7 days',
            :start + make_interval(secs => g * CAST(:step AS float)) + interval '3 days',
            :start + make_interval(secs => g * CAST(:step AS float)) + interval '5 days',
            0, 0, '', '', 0, 0, 0,
            :start + make_interval(secs => g * CAST(:step AS float)),
            :start + make_interval(secs => g * CAST(:step AS float)),
            1
        FROM generate_series(1, :n) AS g
        """,
        """
        INSERT INTO case_events (case_id, action, actor_type, actor_name, at, from_status,
                                 to_status, note, visible_to_resident, data)
        SELECT id, 'create', 'bot', 'bot', received_at, 'new', 'new', '', false, '{}'::jsonb
        FROM cases
        UNION ALL
        SELECT id, 'accept', 'agent', '代办员', received_at + interval '1 hour', 'new',
               'accepted', '', true, '{}'::jsonb
        FROM cases WHERE status NOT IN ('new')
        UNION ALL
        SELECT id, 'dispatch', 'agent', '代办员', received_at + interval '2 hours', 'accepted',
               'dispatched', '', true, '{}'::jsonb
        FROM cases WHERE status NOT IN ('new', 'accepted', 'rejected', 'merged')
        UNION ALL
        SELECT id, 'return', 'agent', '承办人', received_at + interval '3 hours', 'dispatched',
               'accepted', '不属本单位', false, '{}'::jsonb
        FROM cases WHERE id % 11 = 0 AND status IN ('resolved', 'rated', 'closed')
        UNION ALL
        SELECT id, 'resolve', 'agent', '承办人',
               received_at + make_interval(days => (id % 10)::int), 'in_progress', 'resolved',
               '已办结', true, '{}'::jsonb
        FROM cases WHERE status IN ('resolved', 'rated', 'closed')
        UNION ALL
        SELECT id, 'reject', 'agent', '代办员', received_at + interval '2 hours', 'accepted',
               'rejected', '不属受理范围', true, '{}'::jsonb
        FROM cases WHERE status = 'rejected'
        """,
        """
        INSERT INTO ratings (case_id, contact_id, score, channel, comment, at)
        SELECT id, contact_id, 1 + (id * 7) % 5, 'sms', '', received_at + interval '12 days'
        FROM cases WHERE status IN ('rated', 'closed') AND id % 4 <> 0
        """,
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)
    # A year-old database has been through autovacuum; a bulk load has not. Without this the
    # first reads set hint bits and no index-only scan is possible, which no agent would see.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def signed_in_client(engine: Engine, folder: Path) -> FlaskClient:
    """The app on the seeded database, signed in as the county supervisor."""
    settings = load_settings(instance_path=folder, secret_key="bench", demo=True)
    clock = Clock(make_calendar(), OfficeHours.parse("08:30", "17:30", settings.zone))
    services = Services(
        settings, engine, make_session_factory(engine), redis_connection(settings), clock
    )
    client = create_app(settings, services).test_client()
    html = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert token is not None
    response = client.post(
        "/console/login",
        data={"username": "supervisor", "password": DEMO_PASSWORD, "csrf_token": token.group(1)},
    )
    assert response.status_code == 302, "bench sign-in failed"
    return client


def filter_combinations(engine: Engine) -> list[str]:
    """The case-list URLs an agent produces with the filter bar (and the next page)."""
    sessions = make_session_factory(engine)
    with sessions() as session:
        town = session.scalar(select(Area.id).where(Area.level == AreaLevel.TOWN))
        village = session.scalar(select(Area.id).where(Area.level == AreaLevel.VILLAGE))
        unit = session.scalar(select(Department.id).where(Department.code == "chengguan.urban"))
    base = "/console/cases"
    urls = [
        base,
        f"{base}?status=open",
        f"{base}?status=open&warning=red",
        f"{base}?warning=yellow",
        f"{base}?category=urban_rural",
        f"{base}?item=infra_streetlight",
        f"{base}?item=infra_streetlight&status=closed",
        f"{base}?area={town}",
        f"{base}?area={village}&status=open",
        f"{base}?unit={unit}",
        f"{base}?unit={unit}&status=in_progress&warning=red",
        f"{base}?channel=walk_in",
        f"{base}?channel=voice&status=open&area={town}",
        f"{base}?from=2026-03-01&to=2026-03-31",
        f"{base}?from=2026-06-01&to=2026-06-30&status=closed&area={town}",
        f"{base}?q=路灯",
        f"{base}?q=第4242号",
        f"{base}?q=13900004242",
        f"{base}?status=rejected&category=social",
    ]
    return urls


def _time(client: FlaskClient, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return elapsed


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20)[-1]
