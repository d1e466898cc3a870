"""`python -m bench` prints one JSON figure per line and reports failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run_bench(*names: str) -> subprocess.CompletedProcess[str]:
    """Run the benchmark runner at a tiny scale."""
    env = {**os.environ, "ZHITONG_BENCH_SCALE": "0.01"}
    return subprocess.run(
        [sys.executable, "-m", "bench", *names],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_clock_benchmark_prints_json_figures() -> None:
    """Every stdout line is a JSON object with name, value and unit."""
    result = run_bench("clock")
    assert result.returncode == 0, result.stderr
    figures = [json.loads(line) for line in result.stdout.splitlines()]
    assert {f["name"] for f in figures} == {"clock.deadlines_per_second", "clock.levels_per_second"}
    assert all(f["value"] > 0 and f["unit"] for f in figures)


@pytest.mark.usefixtures("postgres_url")
def test_case_benchmark_runs_on_both_databases() -> None:
    """The case-creation benchmark measures SQLite and PostgreSQL."""
    result = run_bench("cases")
    assert result.returncode == 0, result.stdout + result.stderr
    names = {json.loads(line)["name"] for line in result.stdout.splitlines()}
    assert names == {"cases.create_per_second.sqlite", "cases.create_per_second.postgresql"}


def test_unknown_benchmark_fails() -> None:
    """A name that is not a benchmark is reported and the exit status is 1."""
    result = run_bench("nonsense")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"] == "no such benchmark"
