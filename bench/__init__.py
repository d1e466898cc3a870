"""Benchmarks: `python -m bench [NAME…]` prints one JSON object per figure.

Each benchmark is a module `bench/<name>.py` with a function `run() -> Iterable[Figure]`. A
figure is a dict with at least `name`, `value` and `unit`; anything else (sizes, settings,
targets) rides along so a reader can tell what was measured.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Figure = dict[str, Any]

# Modules run when no name is given, in this order.
BENCHMARKS = [
    "cases",
    "clock",
    "nlu",
    "smp2017",
    "console",
    "report",
    "sweep",
    "channels",
    "duplicates",
    "notify",
]


def figure(name: str, value: float, unit: str, **extra: Any) -> Figure:
    """Build one figure line; floats are rounded to four significant places for reading."""
    return {"name": name, "value": float(f"{value:.4g}"), "unit": unit, **extra}


def collect(figures: Iterable[Figure]) -> list[Figure]:
    """Materialise a benchmark's figures (a helper for tests and the runner)."""
    return list(figures)
