"""民情专报: figures from the metrics, repeated problems, late and unhappy cases, HTML, PDF."""

from __future__ import annotations

import contextlib
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cases import metrics
from cases.clock import Clock
from cases.db import make_session_factory
from cases.metrics import Period
from cases.settings import load_settings
from tests.conftest import SHANGHAI, local
from tests.fixtures.api import open_demo_case, rate, resolve
from worker import runtime
from worker.reports import (
    ReportData,
    ReportError,
    build_report,
    cjk_font_file,
    generate_monthly_report,
    parse_period,
    previous_period,
    render_html,
)

NOVEMBER_END = local(2026, 12, 1, 9, 0)
LIGHT_TEXTS = [
    "村口路灯坏了一个星期，晚上很黑，电话13800138000",
    "村口路灯坏了一个多星期了，晚上很黑",
]


def seed(session: Session, clock: Clock) -> None:
    """November: alike streetlight concerns in three villages, one late, one rated unhappy;
    one garbage concern; October: one case (last month's volume)."""
    places = ["chengguan.dongmen", "chengguan.ximen", "dongao.yugang"]
    for index, place in enumerate(places):
        open_demo_case(
            session,
            clock,
            place=place,
            description=LIGHT_TEXTS[index % 2],
            when=local(2026, 11, 2 + index, 9, 0),
        )
    late = open_demo_case(
        session,
        clock,
        item="env_garbage",
        description="河边垃圾堆积",
        when=local(2026, 11, 3, 9, 0),
    )
    resolve(session, late, clock, local(2026, 11, 28, 10, 0))
    unhappy = open_demo_case(session, clock, description="路灯修了又坏", when=local(2026, 11, 4, 9))
    resolve(session, unhappy, clock, local(2026, 11, 5, 9))
    rate(session, unhappy, clock, local(2026, 11, 6, 9), 5)
    open_demo_case(session, clock, when=local(2026, 10, 20, 9))
    session.commit()


def test_figures_are_the_dashboards(demo_session: Session, clock: Clock) -> None:
    """Totals and the unit league come from cases.metrics for the month, as at its end."""
    seed(demo_session, clock)
    report = build_report(demo_session, "2026-11", SHANGHAI, now=NOVEMBER_END)
    period = Period.month(2026, 11, SHANGHAI)
    assert report.totals == metrics.totals(demo_session, period, as_of=period.end)
    assert (report.totals.received, report.totals.resolved) == (5, 2)
    assert report.previous_totals.received == 1
    assert sum(row.counts.received for row in report.units) == 5


def test_volumes_by_category_town_and_channel(demo_session: Session, clock: Clock) -> None:
    """Volumes compare this month with the last, by Chinese names."""
    seed(demo_session, clock)
    report = build_report(demo_session, "2026-11", SHANGHAI, now=NOVEMBER_END)
    towns = {volume.name: (volume.count, volume.previous) for volume in report.by_town}
    assert towns["城关镇"] == (4, 1) and towns["东澳镇"] == (1, 0)
    assert {volume.name for volume in report.by_channel} == {"短信"}
    assert report.trend_months[-1] == "2026-11" and len(report.trend_months) == 12
    assert sum(sum(series) for series in report.trend.values()) == 6


def test_repeated_problem_spans_villages_with_masked_samples(
    demo_session: Session, clock: Clock
) -> None:
    """Alike streetlight texts from three villages form one 共性问题; numbers are masked."""
    seed(demo_session, clock)
    report = build_report(demo_session, "2026-11", SHANGHAI, now=NOVEMBER_END)
    (cluster,) = [c for c in report.clusters if c.item_name == "路灯不亮"]
    assert cluster.count == 3 and len(cluster.villages) == 3
    assert all("13800138000" not in sample for sample in cluster.samples)
    assert any("138****8000" in sample for sample in cluster.samples)


def test_overdue_and_dissatisfied_lists(demo_session: Session, clock: Clock) -> None:
    """The late garbage case and the unhappy rating are listed without personal data."""
    seed(demo_session, clock)
    report = build_report(demo_session, "2026-11", SHANGHAI, now=NOVEMBER_END)
    assert report.overdue_count >= 1
    assert any(case.item_name == "垃圾清运与环境卫生" for case in report.overdue)
    assert report.dissatisfied_count == 1
    assert report.dissatisfied[0].detail.startswith("非常不满意")


def test_html_is_printable_and_self_contained(demo_session: Session, clock: Clock) -> None:
    """Chinese title, inlined PNG charts, print CSS, no outside address."""
    seed(demo_session, clock)
    html = render_html(build_report(demo_session, "2026-11", SHANGHAI, now=NOVEMBER_END), SHANGHAI)
    assert "清溪县民情专报（2026年11月）" in html and "@page" in html
    assert html.count("data:image/png;base64,") == 4
    assert "http://" not in html and "https://" not in html
    assert "办结率" in html and "共性问题" in html and "承办单位排名" in html


def pdf_text(data: bytes) -> bytes:
    """The PDF with its compressed streams inflated (font names live in object streams)."""
    inflated = [data]
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.DOTALL):
        with contextlib.suppress(zlib.error):
            inflated.append(zlib.decompress(stream))
    return b"".join(inflated)


def test_empty_month_still_renders(demo_session: Session) -> None:
    """A month without cases gives dashes, not errors."""
    report = build_report(demo_session, "2025-01", SHANGHAI, now=NOVEMBER_END)
    assert isinstance(report, ReportData) and report.totals.received == 0
    assert "—" in render_html(report, SHANGHAI)


@pytest.mark.parametrize("bad", ["2026-13", "2026/11", "26-11", "", "2026-1"])
def test_bad_periods_are_refused(bad: str) -> None:
    """A period is YYYY-MM."""
    with pytest.raises(ReportError):
        parse_period(bad)


def test_previous_period_is_last_month() -> None:
    """The monthly job reports on the month before; January looks back to December."""
    assert previous_period(local(2026, 12, 1, 2, 0), SHANGHAI) == "2026-11"
    assert previous_period(local(2027, 1, 1, 0, 30), SHANGHAI) == "2026-12"


@pytest.fixture
def installed(engine: Engine, clock: Clock, tmp_path: Path) -> Iterator[runtime.Services]:
    """Job services on the test database."""
    settings = load_settings(instance_path=tmp_path / "instance")
    services = runtime.Services(
        settings,
        engine,
        make_session_factory(engine),
        fakeredis.FakeRedis(server=fakeredis.FakeServer()),
        clock,
    )
    runtime.install(services)
    yield services


def test_monthly_job_writes_html_and_pdf(
    demo_session: Session, clock: Clock, installed: runtime.Services, tmp_path: Path
) -> None:
    """The job writes the HTML and a PDF printed from it, with a CJK font from a package."""
    seed(demo_session, clock)
    path = generate_monthly_report("2026-11")
    assert path == installed.settings.instance_path / "reports" / "zhitong-report-2026-11.pdf"
    assert path.with_suffix(".html").exists()
    only_html = generate_monthly_report("2026-11", str(tmp_path / "out"), pdf=False)
    assert only_html.suffix == ".html" and only_html.exists()
    assert not (tmp_path / "out" / "zhitong-report-2026-11.pdf").exists()
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    if cjk_font_file() is None:
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-microhei)")
    assert any(name in pdf_text(data) for name in (b"WenQuanYi", b"Noto", b"CJK"))
