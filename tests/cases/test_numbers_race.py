"""Case numbers stay unique when real processes create cases at the same instant."""

from __future__ import annotations

import multiprocessing

from sqlalchemy import Engine, func, select

from cases.models import Case
from tests.fixtures.race import create_cases

RACERS = 6
CASES_EACH = 40


def test_processes_racing_get_distinct_consecutive_numbers(
    engine: Engine, database_url: str
) -> None:
    """Six processes released together get 240 distinct numbers, 0001 to 0240, no gaps."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(RACERS)
    results = context.Queue()
    racers = [
        context.Process(target=create_cases, args=(database_url, CASES_EACH, barrier, results))
        for _ in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    numbers = [number for _ in racers for number in results.get(timeout=120)]
    for racer in racers:
        racer.join(timeout=30)
        assert racer.exitcode == 0
    assert len(numbers) == len(set(numbers)) == RACERS * CASES_EACH
    expected = {f"20261122{i:04d}" for i in range(1, RACERS * CASES_EACH + 1)}
    assert set(numbers) == expected
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Case)) == RACERS * CASES_EACH
