"""What duplicate detection adds to opening a case, with a village's backlog of open cases.

10,000 open street-light cases (scaled by ZHITONG_BENCH_SCALE) received in the last 14 days
sit in one village and its grids; new reports of the same item there are opened with
`cases.service.open_case`, one transaction each, as the bot does. Reported: the duplicate check
alone (`cases.duplicates.find_candidate`) and the whole `open_case`, each the median over the
new reports, against `open_case` in a village with no open cases.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from bench import Figure, figure
from bench.fixtures import demo_database, scale
from cases.calendar import make_calendar
from cases.clock import Clock, OfficeHours
from cases.db import make_session_factory, session_scope
from cases.duplicates import MAX_CANDIDATES, find_candidate
from cases.models import Area, Case
from cases.models.cases import CaseKind, CaseStatus, HandlingKind
from cases.models.messaging import Channel
from cases.service import Intake, open_case

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=ZONE)
ITEM = "infra_streetlight"
SPOTS = ["村口", "码头", "小学门口", "菜市场", "卫生院旁边", "广场", "桥头", "三号楼后面", "老街"]
WORDS = ["路灯坏了", "路灯不亮", "灯一闪一闪的", "灯杆歪了", "晚上黑漆漆的看不见路"]
REPORTS = 30


def run() -> Iterator[Figure]:
    """Measure on SQLite and PostgreSQL."""
    backlog = scale(10_000)
    for kind in ("sqlite", "postgresql"):
        yield from _measure(kind, backlog)


def _measure(kind: str, backlog: int) -> Iterator[Figure]:
    clock = Clock(make_calendar(), OfficeHours.parse("08:30", "17:30", ZONE))
    with demo_database(kind) as engine:
        sessions = make_session_factory(engine)
        with session_scope(sessions) as session:
            busy = _area(session, "dongao.yugang")
            quiet = _area(session, "dongao.shiwan")
        _insert_backlog(engine, busy, backlog)
        rng = random.Random(7)
        check: list[float] = []
        loaded: list[float] = []
        empty: list[float] = []
        for index in range(REPORTS):
            description = f"{rng.choice(SPOTS)}{rng.randint(1, 99)}号{rng.choice(WORDS)}"
            moment = NOW + dt.timedelta(seconds=index)
            for area, timings in ((busy, loaded), (quiet, empty)):
                intake = Intake(ITEM, description, Channel.SMS, area_id=area, confidence=0.9)
                with session_scope(sessions) as session:
                    started = time.perf_counter()
                    case = open_case(session, intake, now=moment, clock=clock)
                    timings.append(time.perf_counter() - started)
                    if area == busy:
                        started = time.perf_counter()
                        find_candidate(session, case, now=moment)
                        check.append(time.perf_counter() - started)
    extra = {"backlog": backlog, "reports": REPORTS, "max_candidates": MAX_CANDIDATES}
    yield figure(f"duplicates.check_ms.{kind}", _median_ms(check), "ms", **extra)
    yield figure(f"duplicates.open_case_ms.{kind}", _median_ms(loaded), "ms", **extra)
    yield figure(f"duplicates.open_case_empty_village_ms.{kind}", _median_ms(empty), "ms")


def _area(session: Session, code: str) -> int:
    return int(session.scalars(select(Area.id).where(Area.code == code)).one())


def _insert_backlog(engine: Engine, village: int, count: int) -> None:
    """Bulk-insert `count` open cases of the item in the village and its grids, then ANALYZE."""
    rng = random.Random(3)
    with engine.begin() as connection:
        grids = list(connection.scalars(select(Area.id).where(Area.parent_id == village)))
        places = [village, *grids]
        rows = []
        for index in range(count):
            received = NOW - dt.timedelta(seconds=rng.randint(60, 13 * 86_400))
            description = f"{rng.choice(SPOTS)}{rng.randint(1, 999)}号{rng.choice(WORDS)}"
            rows.append(
                {
                    "number": f"2026{index:08d}",
                    "item_code": ITEM,
                    "category_code": "urban_rural",
                    "kind": CaseKind.CONCERN,
                    "handling": HandlingKind.PROMISED,
                    "status": rng.choice([CaseStatus.ACCEPTED, CaseStatus.DISPATCHED]),
                    "channel": Channel.SMS,
                    "summary": description,
                    "description": description,
                    "area_id": places[index % len(places)],
                    "received_at": received,
                    "created_at": received,
                    "updated_at": received,
                }
            )
        for start in range(0, len(rows), 2000):
            connection.execute(insert(Case), rows[start : start + 2000])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))


def _median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000
