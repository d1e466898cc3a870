"""The working-day calendar: official data, 调休 make-up days, county data for later years."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import chinese_calendar
import pytest

from cases.calendar import HOLIDAYS_PATH, WorkingCalendar, load_holiday_data, make_calendar
from intents.exceptions import CalendarDataError

D = dt.date


@pytest.fixture
def calendar() -> WorkingCalendar:
    """A fresh calendar with the project's holiday file (its warnings not yet given)."""
    return make_calendar()


@pytest.fixture
def county_file(tmp_path: Path) -> Path:
    """A county holiday file with a confirmed 2030 and an unconfirmed 2031."""
    path = tmp_path / "holidays.yml"
    path.write_text(
        "years:\n"
        "  2030:\n"
        "    confirmed: true\n"
        "    source: 国务院办公厅通知\n"
        "    holidays: [2030-02-04, 2030-02-05, 2030-10-01, 2030-10-02, 2030-10-03]\n"
        "    workdays: [2030-02-09]\n"
        "  2031:\n"
        "    confirmed: false\n"
        "    holidays: [2031-01-01]\n"
        "    workdays: []\n",
        encoding="utf-8",
    )
    return path


def unconfirmed_warnings(caplog: pytest.LogCaptureFixture, year: int) -> list[logging.LogRecord]:
    """The calendar's warnings about `year` captured so far."""
    return [
        record
        for record in caplog.records
        if record.name == "cases.calendar"
        and record.levelno == logging.WARNING
        and str(year) in record.getMessage()
    ]


def test_package_data_has_the_2026_make_up_days_we_rely_on() -> None:
    """The installed chinese-calendar knows 2026's National Day 调休 (the tables below need it)."""
    assert chinese_calendar.is_workday(D(2026, 9, 20))
    assert chinese_calendar.is_workday(D(2026, 10, 10))
    assert chinese_calendar.is_holiday(D(2026, 10, 7))


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 9, 19), False),  # Saturday
        (D(2026, 9, 20), True),  # Sunday, 调休 make-up working day
        (D(2026, 9, 25), False),  # Friday, Mid-Autumn
        (D(2026, 9, 30), True),  # the day before National Day
        (D(2026, 10, 1), False),
        (D(2026, 10, 2), False),
        (D(2026, 10, 3), False),
        (D(2026, 10, 4), False),
        (D(2026, 10, 5), False),  # Monday, but a holiday
        (D(2026, 10, 6), False),
        (D(2026, 10, 7), False),
        (D(2026, 10, 8), True),
        (D(2026, 10, 9), True),
        (D(2026, 10, 10), True),  # Saturday, 调休 make-up working day
        (D(2026, 10, 11), False),  # Sunday
        (D(2026, 10, 12), True),
    ],
)
def test_national_day_2026(calendar: WorkingCalendar, day: dt.date, working: bool) -> None:
    """National Day 2026: Oct 1–7 off, Sep 20 and Oct 10 worked (调休)."""
    assert calendar.is_working_day(day) is working


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 2, 13), True),  # Friday before the holiday
        (D(2026, 2, 14), True),  # Saturday, 调休
        (D(2026, 2, 15), False),
        (D(2026, 2, 17), False),  # 初一
        (D(2026, 2, 20), False),  # Friday
        (D(2026, 2, 23), False),  # Monday, last day off
        (D(2026, 2, 24), True),
        (D(2026, 2, 28), True),  # Saturday, 调休
        (D(2026, 3, 1), False),  # Sunday
    ],
)
def test_spring_festival_2026(calendar: WorkingCalendar, day: dt.date, working: bool) -> None:
    """Spring Festival 2026: Feb 15–23 off, Feb 14 and Feb 28 worked (调休)."""
    assert calendar.is_working_day(day) is working


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 12, 31), True),  # Thursday, official data
        (D(2027, 1, 1), False),  # Friday, 元旦 from intents/holidays.yml
        (D(2027, 1, 2), False),  # Saturday
        (D(2027, 1, 4), True),  # Monday
        (D(2027, 2, 5), False),  # 除夕, from the county file
        (D(2027, 2, 8), False),  # 初三 on a Monday
        (D(2027, 2, 9), True),
        (D(2027, 10, 1), False),
        (D(2027, 10, 4), True),  # bridge days of 2027 are not known yet
    ],
)
def test_year_end_into_2027_uses_county_file(
    calendar: WorkingCalendar, day: dt.date, working: bool
) -> None:
    """After the package's last year: weekends plus intents/holidays.yml."""
    assert calendar.is_working_day(day) is working


def test_unconfirmed_year_warns_once(
    calendar: WorkingCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    """Many dates of an unconfirmed year give one warning for that year, none for 2026."""
    caplog.set_level(logging.WARNING, logger="cases.calendar")
    for offset in range(60):
        calendar.is_working_day(D(2026, 12, 1) + dt.timedelta(days=offset))
    assert len(unconfirmed_warnings(caplog, 2027)) == 1
    assert unconfirmed_warnings(caplog, 2026) == []


def test_each_unconfirmed_year_warns_separately(
    calendar: WorkingCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    """2027 and 2035 each get their own single warning."""
    caplog.set_level(logging.WARNING, logger="cases.calendar")
    for day in (D(2027, 3, 1), D(2035, 3, 1), D(2027, 3, 2), D(2035, 3, 2)):
        calendar.is_working_day(day)
    assert len(unconfirmed_warnings(caplog, 2027)) == 1
    assert len(unconfirmed_warnings(caplog, 2035)) == 1


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2035, 1, 1), False),  # Monday, 元旦
        (D(2035, 1, 2), True),
        (D(2035, 5, 1), False),  # Tuesday
        (D(2035, 5, 2), False),  # Wednesday
        (D(2035, 5, 3), True),
        (D(2035, 10, 1), False),  # Monday
        (D(2035, 10, 2), False),
        (D(2035, 10, 3), False),
        (D(2035, 10, 4), True),
        (D(2035, 3, 3), False),  # Saturday
        (D(2035, 3, 4), False),  # Sunday
        (D(2035, 3, 5), True),
        (D(2035, 2, 8), True),  # lunar holidays are unknown without county data
    ],
)
def test_far_year_uses_weekends_and_fixed_date_holidays(
    calendar: WorkingCalendar, day: dt.date, working: bool
) -> None:
    """A year nobody has data for: weekends plus Jan 1, May 1–2 and Oct 1–3."""
    assert calendar.is_working_day(day) is working


@pytest.mark.parametrize("year", [2035, 2099, 2300])
def test_year_without_data_never_raises(calendar: WorkingCalendar, year: int) -> None:
    """Every date of a year without data answers, and the year is reported unconfirmed."""
    day = D(year, 1, 1)
    while day.year == year:
        calendar.is_working_day(day)
        day += dt.timedelta(days=1)
    assert calendar.is_confirmed(year) is False


@pytest.mark.parametrize(
    ("year", "confirmed"), [(2004, True), (2026, True), (2027, False), (2035, False)]
)
def test_is_confirmed(calendar: WorkingCalendar, year: int, confirmed: bool) -> None:
    """Package years are confirmed; years from the county file only when marked so."""
    assert calendar.is_confirmed(year) is confirmed


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2030, 2, 4), False),  # Monday, county holiday
        (D(2030, 2, 5), False),
        (D(2030, 2, 6), True),
        (D(2030, 2, 9), True),  # Saturday, county 调休 working day
        (D(2030, 2, 10), False),  # Sunday
        (D(2030, 10, 3), False),
        (D(2031, 1, 1), False),
        (D(2031, 1, 2), True),
    ],
)
def test_county_file(county_file: Path, day: dt.date, working: bool) -> None:
    """A county file's holidays and 调休 working days decide its years."""
    assert make_calendar(county_file).is_working_day(day) is working


def test_confirmed_county_year_does_not_warn(
    county_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A year the county marked confirmed is official: no warning, is_confirmed true."""
    caplog.set_level(logging.WARNING, logger="cases.calendar")
    calendar = make_calendar(county_file)
    calendar.is_working_day(D(2030, 2, 9))
    calendar.is_working_day(D(2031, 2, 9))
    assert calendar.is_confirmed(2030) is True
    assert unconfirmed_warnings(caplog, 2030) == []
    assert len(unconfirmed_warnings(caplog, 2031)) == 1


def test_official_data_wins_over_county_file(tmp_path: Path) -> None:
    """A county entry for a year the package covers does not override the State Council."""
    path = tmp_path / "holidays.yml"
    path.write_text(
        "years:\n  2026:\n    confirmed: true\n"
        "    holidays: [2026-10-08]\n    workdays: [2026-10-04]\n",
        encoding="utf-8",
    )
    calendar = make_calendar(path)
    assert calendar.is_working_day(D(2026, 10, 8)) is True
    assert calendar.is_working_day(D(2026, 10, 4)) is False


def test_project_holiday_file_lists_2027_unconfirmed() -> None:
    """intents/holidays.yml carries 2027's statutory days, not yet confirmed."""
    schedule = load_holiday_data(HOLIDAYS_PATH)[2027]
    assert schedule.confirmed is False
    assert {D(2027, 1, 1), D(2027, 2, 5), D(2027, 10, 3)} <= schedule.holidays
    assert all(day.year == 2027 for day in schedule.holidays | schedule.workdays)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("years: [unclosed", "holidays.yml"),
        ("- 2030-01-01\n", "valid dictionary"),
        pytest.param(
            "years:\n  2030:\n    holidays: [2030-02-30]\n",
            "2030",
        ),
        ("years:\n  2030:\n    holidays: [not-a-date]\n", "2030"),
        ("years:\n  2030:\n    holiday: [2030-01-01]\n", "holiday"),
        ("years:\n  2030:\n    holidays: [2031-01-01]\n", "another year"),
        ("years:\n  2030:\n    workdays: [2029-12-29]\n", "another year"),
        ("years:\n  next:\n    holidays: []\n", "next"),
    ],
)
def test_malformed_holiday_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    """A malformed county file raises CalendarDataError saying what is wrong."""
    path = tmp_path / "holidays.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarDataError, match=message):
        make_calendar(path)


def test_missing_holiday_file_is_refused(tmp_path: Path) -> None:
    """A holidays file that does not exist raises CalendarDataError naming it."""
    with pytest.raises(CalendarDataError, match=r"absent\.yml"):
        load_holiday_data(tmp_path / "absent.yml")


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (D(2026, 9, 30), 0, D(2026, 9, 30)),
        (D(2026, 9, 30), 1, D(2026, 10, 8)),
        (D(2026, 9, 30), 3, D(2026, 10, 10)),  # the 调休 Saturday counts
        (D(2026, 9, 30), 5, D(2026, 10, 13)),
        (D(2026, 9, 18), 1, D(2026, 9, 20)),  # Friday → 调休 Sunday
        (D(2026, 2, 13), 1, D(2026, 2, 14)),  # Friday → 调休 Saturday
        (D(2026, 2, 14), 1, D(2026, 2, 24)),  # across Spring Festival
        (D(2026, 11, 20), 1, D(2026, 11, 23)),  # ordinary weekend
        (D(2026, 12, 31), 1, D(2027, 1, 4)),  # 元旦 2027 from the county file
        (D(2026, 12, 30), 3, D(2027, 1, 5)),
    ],
)
def test_add_working_days(
    calendar: WorkingCalendar, start: dt.date, count: int, expected: dt.date
) -> None:
    """The count-th working day after a date; the date itself never counts."""
    assert calendar.add_working_days(start, count) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (D(2026, 9, 30), D(2026, 9, 30), 0),
        (D(2026, 9, 30), D(2026, 10, 7), 0),  # only holidays in between
        (D(2026, 9, 30), D(2026, 10, 8), 1),
        (D(2026, 9, 30), D(2026, 10, 13), 5),
        (D(2026, 9, 19), D(2026, 9, 21), 2),  # 调休 Sunday and Monday
        (D(2026, 11, 20), D(2026, 11, 23), 1),  # Friday → Monday
        (D(2026, 12, 30), D(2027, 1, 5), 3),
        (D(2026, 10, 13), D(2026, 9, 30), 0),  # end before start
    ],
)
def test_working_days_between(
    calendar: WorkingCalendar, start: dt.date, end: dt.date, expected: int
) -> None:
    """Working days in (start, end]."""
    assert calendar.working_days_between(start, end) == expected


@pytest.mark.parametrize(
    ("start", "count"),
    [(D(2026, 9, 30), 5), (D(2026, 2, 10), 7), (D(2026, 12, 25), 10), (D(2035, 9, 28), 4)],
)
def test_add_and_count_agree(calendar: WorkingCalendar, start: dt.date, count: int) -> None:
    """Adding N working days and counting them back gives N."""
    assert calendar.working_days_between(start, calendar.add_working_days(start, count)) == count


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2026, 9, 30), D(2026, 10, 8)),
        (D(2026, 10, 9), D(2026, 10, 10)),
        (D(2026, 10, 10), D(2026, 10, 12)),
    ],
)
def test_next_working_day(calendar: WorkingCalendar, day: dt.date, expected: dt.date) -> None:
    """The first working day strictly after a date."""
    assert calendar.next_working_day(day) == expected


def test_empty_calendar_without_county_data() -> None:
    """A calendar built with no county data treats 2027 as a far year (fixed dates only)."""
    calendar = WorkingCalendar()
    assert calendar.is_working_day(D(2027, 2, 5)) is True  # 除夕 unknown without the file
    assert calendar.is_working_day(D(2027, 1, 1)) is False
