"""Working days from the official Chinese calendar, with county data for later years.

Statutory holidays and 调休 make-up working days come from the `chinese-calendar` package, which
carries the State Council's schedules up to its last release. For later years Zhitong falls back
to weekends plus the dates a county lists in `intents/holidays.yml` (or the file named by
ZHITONG_HOLIDAYS_FILE), and warns once per year that the schedule is not confirmed. No date makes
it crash: a year with no data at all is weekends only, with the same warning.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import chinese_calendar
import yaml
from pydantic import BaseModel, ConfigDict

from intents import DATA_DIR
from intents.exceptions import CalendarDataError
from intents.yamlio import load_yaml

log = logging.getLogger(__name__)

HOLIDAYS_PATH = DATA_DIR / "holidays.yml"


class _YearData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    confirmed: bool = False
    source: str = ""
    holidays: tuple[dt.date, ...] = ()
    workdays: tuple[dt.date, ...] = ()


class _HolidayFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    years: dict[int, _YearData]


@dataclass(frozen=True)
class YearSchedule:
    """A county-supplied schedule for one year."""

    confirmed: bool
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]


def load_holiday_data(path: Path = HOLIDAYS_PATH) -> dict[int, YearSchedule]:
    """Read a county holiday file.

    Raises:
        CalendarDataError: the file is unreadable, not YAML, or a date lies outside its year.
    """
    try:
        # Plain strings keep dates as text so pydantic reports a bad one with its year and place.
        raw = load_yaml(path, plain_strings=True)
        parsed = _HolidayFile.model_validate(raw)
    except (OSError, ValueError, yaml.YAMLError) as exc:  # ValidationError is a ValueError
        raise CalendarDataError(f"{path}: {exc}") from exc
    schedules = {}
    for year, data in parsed.years.items():
        stray = [day for day in (*data.holidays, *data.workdays) if day.year != year]
        if stray:
            raise CalendarDataError(f"{path}: year {year} lists dates of another year: {stray}")
        schedules[year] = YearSchedule(
            data.confirmed, frozenset(data.holidays), frozenset(data.workdays)
        )
    return schedules


@dataclass
class WorkingCalendar:
    """Answers "is this a working day?" for any date, official data first.

    Args:
        county_years: schedules for years the package does not cover (see `load_holiday_data`).
    """

    county_years: dict[int, YearSchedule] = field(default_factory=dict)
    _warned: set[int] = field(default_factory=set, repr=False)
    _cache: dict[dt.date, bool] = field(default_factory=dict, repr=False)

    def is_working_day(self, day: dt.date) -> bool:
        """True on a working day: not a weekend or holiday, or a 调休 make-up Saturday/Sunday."""
        cached = self._cache.get(day)
        if cached is None:
            cached = self._cache[day] = self._compute(day)
        return cached

    def is_confirmed(self, year: int) -> bool:
        """True when the year's schedule is official (package data or a confirmed county entry)."""
        if self._package_covers(year):
            return True
        schedule = self.county_years.get(year)
        return bool(schedule and schedule.confirmed)

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after `day`."""
        day += dt.timedelta(days=1)
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def add_working_days(self, day: dt.date, count: int) -> dt.date:
        """The `count`-th working day after `day` (`day` itself never counts)."""
        for _ in range(count):
            day = self.next_working_day(day)
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]: how many working days have passed since `start`."""
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return count

    def _compute(self, day: dt.date) -> bool:
        if self._package_covers(day.year):
            return bool(chinese_calendar.is_workday(day))
        self._warn_unconfirmed(day.year)
        schedule = self.county_years.get(day.year)
        if schedule is not None:
            if day in schedule.workdays:
                return True
            if day in schedule.holidays:
                return False
        elif (day.month, day.day) in _FIXED_DATE_HOLIDAYS:
            return False
        return day.weekday() < 5

    @staticmethod
    def _package_covers(year: int) -> bool:
        return year in _PACKAGE_YEARS

    def _warn_unconfirmed(self, year: int) -> None:
        if year in self._warned or self.is_confirmed(year):
            return
        self._warned.add(year)
        log.warning(
            "working-day schedule for %s is not confirmed: using weekends plus county holiday "
            "data; add the State Council's schedule to the holidays file when it is published",
            year,
        )


# Statutory holidays on fixed solar dates (New Year, Labour Day, National Day): known for any
# year even before its schedule is published. The lunar ones need the county's data file.
_FIXED_DATE_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


def _package_years() -> frozenset[int]:
    years = {day.year for day in chinese_calendar.holidays} | {
        day.year for day in chinese_calendar.workdays
    }
    return frozenset(years)


_PACKAGE_YEARS = _package_years()


def make_calendar(holidays_file: Path | None = None) -> WorkingCalendar:
    """The calendar with the project's holiday data, or a county's own file."""
    return WorkingCalendar(load_holiday_data(holidays_file or HOLIDAYS_PATH))
