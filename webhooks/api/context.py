"""What a machine view needs besides the database: the time and the county's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from webhooks.extensions import services


def now() -> dt.datetime:
    """The current time, aware (tests replace this function to fix the clock)."""
    return dt.datetime.now(dt.UTC)


def zone() -> ZoneInfo:
    """The county's time zone, in which every timestamp is written."""
    return services().clock.hours.zone


def local_iso(moment: dt.datetime | None) -> str | None:
    """An ISO 8601 timestamp with the county's offset (2026-11-22T09:30:00+08:00)."""
    return None if moment is None else moment.astimezone(zone()).isoformat(timespec="seconds")
