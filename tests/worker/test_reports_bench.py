"""The report benchmark runs end to end on PostgreSQL at a tiny scale."""

from __future__ import annotations

import pytest

from bench import collect


def test_report_benchmark_reports_its_figures(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """Seeding by bulk INSERT and both report timings come out as figures."""
    from bench import report

    monkeypatch.setenv("ZHITONG_BENCH_SCALE", "0.003")
    figures = {f["name"]: f for f in collect(report.run())}
    assert figures["report.seed_seconds.postgresql"]["cases"] == 300
    assert figures["report.seed_seconds.postgresql"]["events"] > 600
    assert figures["report.pdf_seconds.postgresql"]["value"] < report.TARGET_SECONDS
    assert figures["report.html_seconds.postgresql"]["bytes"] > 10_000
