"""Dates and times as residents say them: 昨天下午, 三天前, 上周五, 11月3日, 晚上8点半.

Every expression is read relative to `now`, which the caller passes in (the bot has no clock),
and the result keeps `now`'s time zone. An expression naming a span (a day, a week, 下午) gives
the start of that span; `grain` says how wide the span is. Bare day numbers (5号) and months
(11月) are read in the current month and year, as residents say them; weeks start on Monday.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import re
from dataclasses import dataclass

from bot.digits import to_ascii_digits


class Grain(enum.StrEnum):
    """How wide the span an expression names is; the value is the span's start."""

    MINUTE = "minute"
    HOUR = "hour"
    PART_OF_DAY = "part_of_day"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True)
class TimeMention:
    """A date or time found in text: where it is, what it says, and when that is."""

    start: int
    end: int
    text: str
    value: dt.datetime
    grain: Grain
    confidence: float


# Where each part of the day starts (hour). 晚上 and later cross midnight for clock hours < 5.
PART_OF_DAY_START: dict[str, int] = {
    "凌晨": 0,
    "清晨": 6,
    "早上": 6,
    "早晨": 6,
    "上午": 8,
    "中午": 12,
    "下午": 13,
    "傍晚": 17,
    "晚上": 18,
    "夜里": 20,
    "夜间": 20,
    "深夜": 23,
    "半夜": 23,
}
_AFTERNOON = {"下午", "傍晚"}
_NIGHT = {"晚上", "夜里", "夜间", "深夜", "半夜"}
# 今早, 昨晚: the second character stands for a part of the day.
_SHORT_PARTS = {"早": "早上", "晨": "早上", "晚": "晚上", "夜": "晚上"}
_DAY_WORDS = {
    "大前天": -3,
    "前天": -2,
    "昨天": -1,
    "昨日": -1,
    "昨儿": -1,
    "今天": 0,
    "今日": 0,
    "今儿": 0,
    "明天": 1,
    "明日": 1,
    "明儿": 1,
    "后天": 2,
    "大后天": 3,
}
_SHORT_DAYS = {"昨": -1, "今": 0, "明": 1}
_YEAR_WORDS = {"前年": -2, "去年": -1, "今年": 0, "明年": 1}
_WEEK_SHIFT = {"上上": -2, "上": -1, "这": 0, "本": 0, "下": 1}
_WEEKDAYS = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "日": 6, "天": 6}

# The patterns run on text whose digits went through `to_ascii_digits` (三 → 3, 两 → 2), which
# keeps every character in place, so match positions are positions in the original text.
_N = r"[0-9十]{1,3}"
_NO_DIGIT_BEFORE = r"(?<![0-9十])"


def _year_pattern(name: str) -> str:
    """An optional year before a month: 2026年, 26年, 去年 (group names must be unique)."""
    return rf"(?:(?<!\d)(?P<{name}>\d{{4}}|\d{{2}})年|(?P<{name}_word>前年|去年|今年|明年))?"


_DAY = "|".join(
    [
        rf"{_year_pattern('year')}{_NO_DIGIT_BEFORE}(?P<month>{_N})月份?(?P<mday>{_N})[日号]",
        r"(?<![\d.\-/])(?P<iso_year>\d{4})[-/.](?P<iso_month>\d{1,2})[-/.]"
        r"(?P<iso_day>\d{1,2})(?!\d)",
        rf"{_year_pattern('month_year')}{_NO_DIGIT_BEFORE}(?P<month_only>{_N})月份?(?![0-9十])",
        r"(?<!\d)(?P<year_only>\d{4})年(?!\d)|(?P<year_word_only>前年|去年|今年|明年)",
        # 11-03, 3/15; not 10-15天 (a range), not a piece of a phone or decimal number.
        r"(?<![\d.\-/:])(?P<md_month>\d{1,2})[-/](?P<md_day>\d{1,2})"
        r"(?![\d\-/.:]|\s*[天个次岁人元块米里斤分秒号名件%])",
        rf"(?<![0-9十第])(?P<dom>{_N})[号日]"
        r"(?![楼线门院栋单元室房车窗口箱柜桥路街巷弄组机位床卡牌店铺文件台场厅游])",
        r"(?P<day_word>大前天|前天|昨天|昨日|昨儿|今天|今日|今儿|明天|明日|明儿|大后天|后天)",
        r"(?P<short_day>[今昨明])(?P<short_part>[早晨晚夜])",
        rf"{_NO_DIGIT_BEFORE}(?P<count>{_N}|半)(?P<unit>天|日|周|个星期|个礼拜|星期|礼拜|个月|年|"
        r"个小时|小时|个钟头|钟头|分钟)(?P<direction>以前|之前|前|以后|之后|后)",
        r"(?<![0-9十几每])(?P<week_shift>上上|上|这|本|下)?个?(?:周|星期|礼拜)(?P<weekday>[1-7日天])"
        r"(?![0-9十次个趟遍回])",
        r"(?P<span_shift>上上|上|这|本|下)个?(?P<span_unit>周|星期|礼拜|月)(?![1-7日天])",
        r"(?P<just_now>刚才|刚刚)",
    ]
)
_PART = "(?P<part>" + "|".join(PART_OF_DAY_START) + ")"
_CLOCK = (
    rf"{_NO_DIGIT_BEFORE}(?P<hour>{_N})[点點时時](?:(?P<half>半)|(?P<quarter>[13])刻|"
    rf"(?P<minute>{_N})分?)?钟?"
    r"|(?<![\d:])(?P<hh>\d{1,2})[:：](?P<mm>\d{2})(?![\d:])"
)
_EXPRESSION = re.compile(rf"(?P<day>{_DAY})?(?:\s?{_PART})?(?:\s?(?:{_CLOCK}))?")
# After a bare clock (no day, no part of day), these make 3点 "three points", not three o'clock.
_NOT_A_CLOCK_AFTER = re.compile(r"意见|建议|要求|问题|原因|内容|理由|看法|想法|情况|事")
_WRITTEN_DIGITS = "0123456789０１２３４５６７８９"

_CONFIDENCE_EXPLICIT = 0.95
_CONFIDENCE_RELATIVE = 0.9
_CONFIDENCE_BARE = 0.75


def find_times(text: str, *, now: dt.datetime) -> list[TimeMention]:
    """Every date or time expression in `text`, read relative to `now`, in order.

    Args:
        text: free text from a resident.
        now: the current moment (time-zone aware, Asia/Shanghai in production).

    Returns:
        The mentions found; expressions naming an impossible date (2月30日) are left out.
    """
    normalised = to_ascii_digits(text)
    mentions: list[TimeMention] = []
    for match in _EXPRESSION.finditer(normalised):
        start, end = match.span()
        while start < end and normalised[start].isspace():
            start += 1
        if start == end:
            continue
        resolved = _resolve(match, text, now)
        if resolved is not None:
            value, grain, confidence = resolved
            mentions.append(TimeMention(start, end, text[start:end], value, grain, confidence))
    return mentions


def parse_time(text: str, *, now: dt.datetime) -> dt.datetime | None:
    """Read `text` as one date or time expression (e.g. a reply to "什么时候？").

    Returns:
        The moment it names (the start of the span), or None when the whole text is not one.
    """
    stripped = text.strip()
    mentions = find_times(stripped, now=now)
    if len(mentions) == 1 and mentions[0].text == stripped:
        return mentions[0].value
    return None


def read_small_number(text: str) -> int | None:
    """Read ASCII digits, or 10–99 written with 十 as `to_ascii_digits` leaves it (二十三: 2十3).

    >>> read_small_number("2十3"), read_small_number("十"), read_small_number("08")
    (23, 10, 8)
    """
    if text.isascii() and text.isdigit():
        return int(text)
    tens, sep, ones = text.partition("十")
    if not sep or len(tens) > 1 or len(ones) > 1 or not (tens + ones).isascii():
        return None
    if not (tens + ones).isdigit() and tens + ones:
        return None
    return int(tens or "1") * 10 + int(ones or "0")


@dataclass(frozen=True)
class _Reading:
    """What the day part of an expression says."""

    date: dt.date
    grain: Grain
    confidence: float
    # Set when the expression names a moment (两小时前, 刚才): no part of day or clock applies.
    moment: dt.datetime | None = None


def _resolve(
    match: re.Match[str], original: str, now: dt.datetime
) -> tuple[dt.datetime, Grain, float] | None:
    """The moment a matched expression names, its grain and how sure we are; None if none."""
    if match.group("day") is not None:
        reading = _resolve_day(match, now)
        if reading is None:
            return None
        if reading.moment is not None:
            return reading.moment, reading.grain, reading.confidence
    else:
        reading = _Reading(now.date(), Grain.DAY, _CONFIDENCE_RELATIVE)
    part = match.group("part") or _SHORT_PARTS.get(match.group("short_part") or "")
    bare = match.group("day") is None and part is None
    clock = _resolve_clock(match, original, part, bare=bare)
    if clock is False:
        return None
    if bare and clock is None:
        return None  # matched nothing but spaces
    date, grain, hour, minute = reading.date, reading.grain, 0, 0
    if part is not None:
        hour, grain = PART_OF_DAY_START[part], Grain.PART_OF_DAY
    confidence = reading.confidence
    if isinstance(clock, _Clock):
        hour, minute, grain = clock.hour, clock.minute, clock.grain
        if bare:
            confidence = _CONFIDENCE_BARE
        try:
            date += dt.timedelta(days=clock.days_later)
        except OverflowError:
            return None
    moment = now.replace(
        year=date.year,
        month=date.month,
        day=date.day,
        hour=hour,
        minute=minute,
        second=0,
        microsecond=0,
    )
    return moment, grain, confidence


def _resolve_day(match: re.Match[str], now: dt.datetime) -> _Reading | None:
    """The day part of an expression; None when it names no real day (2月30日)."""
    try:
        return _read_day(match, now)
    except (ValueError, OverflowError):  # a year before 1 or after 9999
        return None


def _read_day(match: re.Match[str], now: dt.datetime) -> _Reading | None:
    """Which of the day forms matched, and what it says; may raise for years out of range."""
    group = match.group
    today = now.date()
    if group("mday") is not None:
        year = _year(match, now, "year")
        return _date(year, group("month"), group("mday"), Grain.DAY, _CONFIDENCE_EXPLICIT)
    if group("iso_year") is not None:
        year = int(group("iso_year"))
        return _date(year, group("iso_month"), group("iso_day"), Grain.DAY, _CONFIDENCE_EXPLICIT)
    if group("month_only") is not None:
        return _date(
            _year(match, now, "month_year"),
            group("month_only"),
            "1",
            Grain.MONTH,
            _CONFIDENCE_RELATIVE,
        )
    if group("year_only") is not None:
        return _date(int(group("year_only")), "1", "1", Grain.YEAR, _CONFIDENCE_EXPLICIT)
    if group("year_word_only") is not None:
        year = today.year + _YEAR_WORDS[group("year_word_only")]
        return _date(year, "1", "1", Grain.YEAR, _CONFIDENCE_RELATIVE)
    if group("md_month") is not None:
        if len(group("md_month") + group("md_day")) < 3:
            return None  # 1/2 is more likely a half than the second of January
        return _date(today.year, group("md_month"), group("md_day"), Grain.DAY, _CONFIDENCE_BARE)
    if group("dom") is not None:
        return _date(today.year, str(today.month), group("dom"), Grain.DAY, _CONFIDENCE_BARE)
    if group("day_word") is not None:
        shift = _DAY_WORDS[group("day_word")]
        return _Reading(today + dt.timedelta(days=shift), Grain.DAY, _CONFIDENCE_RELATIVE)
    if group("short_day") is not None:
        shift = _SHORT_DAYS[group("short_day")]
        return _Reading(today + dt.timedelta(days=shift), Grain.DAY, _CONFIDENCE_RELATIVE)
    if group("unit") is not None:
        return _shift(match, now)
    if group("weekday") is not None:
        return _Reading(_weekday(match, today), Grain.DAY, _CONFIDENCE_RELATIVE)
    if group("span_unit") is not None:
        shift = _WEEK_SHIFT[group("span_shift")]
        if group("span_unit") == "月":
            first = _add_months(today.replace(day=1), shift)
            return _Reading(first, Grain.MONTH, _CONFIDENCE_RELATIVE)
        monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=shift)
        return _Reading(monday, Grain.WEEK, _CONFIDENCE_RELATIVE)
    # 刚才, 刚刚
    moment = now.replace(second=0, microsecond=0)
    return _Reading(today, Grain.MINUTE, _CONFIDENCE_RELATIVE, moment=moment)


def _year(match: re.Match[str], now: dt.datetime, name: str) -> int:
    """The year written before a month (see `_year_pattern`); this year when none is."""
    if match.group(name) is not None:
        written = match.group(name)
        return int(written) + (2000 if len(written) == 2 else 0)  # 26年 is 2026
    if match.group(f"{name}_word") is not None:
        return now.year + _YEAR_WORDS[match.group(f"{name}_word")]
    return now.year


def _date(year: int, month: str, day: str, grain: Grain, confidence: float) -> _Reading | None:
    """A reading of a written date; None when there is no such day."""
    month_number, day_number = read_small_number(month), read_small_number(day)
    if month_number is None or day_number is None:
        return None
    try:
        return _Reading(dt.date(year, month_number, day_number), grain, confidence)
    except ValueError:
        return None


def _shift(match: re.Match[str], now: dt.datetime) -> _Reading | None:
    """三天前, 两周前, 半个月前, 两小时前, 三天后."""
    count_text, unit = match.group("count"), match.group("unit")
    sign = -1 if match.group("direction").endswith("前") else 1
    number = read_small_number(count_text)
    if number is None and count_text != "半":
        return None
    half = number is None
    today = now.date()
    if unit in {"天", "日"}:
        if half:
            return None
        return _Reading(
            today + dt.timedelta(days=sign * (number or 0)), Grain.DAY, _CONFIDENCE_RELATIVE
        )
    if unit in {"周", "个星期", "个礼拜", "星期", "礼拜"}:
        days = 3 if half else 7 * (number or 0)
        return _Reading(today + dt.timedelta(days=sign * days), Grain.DAY, _CONFIDENCE_RELATIVE)
    if unit in {"个月", "年"}:
        if half:  # half a month is fifteen days, half a year six months
            if unit == "个月":
                return _Reading(
                    today + dt.timedelta(days=sign * 15), Grain.DAY, _CONFIDENCE_RELATIVE
                )
            return _Reading(_add_months(today, sign * 6), Grain.DAY, _CONFIDENCE_RELATIVE)
        months = (number or 0) * (12 if unit == "年" else 1)
        return _Reading(_add_months(today, sign * months), Grain.DAY, _CONFIDENCE_RELATIVE)
    if unit == "分钟":
        if half:
            return None
        minutes, grain = number or 0, Grain.MINUTE
    else:  # hours
        minutes, grain = (30, Grain.MINUTE) if half else (60 * (number or 0), Grain.HOUR)
    moment = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=sign * minutes)
    return _Reading(moment.date(), grain, _CONFIDENCE_RELATIVE, moment=moment)


def _weekday(match: re.Match[str], today: dt.date) -> dt.date:
    """上周五 is Friday of last week; a bare 周五 is the latest Friday up to today."""
    weekday = _WEEKDAYS[match.group("weekday")]
    monday = today - dt.timedelta(days=today.weekday())
    shift_word = match.group("week_shift")
    if shift_word is None:
        day = monday + dt.timedelta(days=weekday)
        return day if day <= today else day - dt.timedelta(weeks=1)
    return monday + dt.timedelta(weeks=_WEEK_SHIFT[shift_word], days=weekday)


def _add_months(day: dt.date, months: int) -> dt.date:
    """Shift by whole months, keeping the day of the month where the month is long enough."""
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise ValueError(f"year {year} is out of range")
    last = calendar.monthrange(year, month_index + 1)[1]
    return day.replace(year=year, month=month_index + 1, day=min(day.day, last))


@dataclass(frozen=True)
class _Clock:
    """A clock time, with the part of day applied."""

    hour: int
    minute: int
    grain: Grain
    days_later: int = 0  # 晚上12点, 半夜两点: past midnight


def _resolve_clock(
    match: re.Match[str], original: str, part: str | None, *, bare: bool
) -> _Clock | bool | None:
    """The clock time in an expression; None when there is none.

    False when the clock is impossible (25点) or, said bare, more likely no time at all:
    一点 (a little), 三点意见 (three points).
    """
    if match.group("hh") is not None:
        hour, minute, grain = int(match.group("hh")), int(match.group("mm")), Grain.MINUTE
    elif match.group("hour") is not None:
        hour_number = read_small_number(match.group("hour"))
        minute_number: int | None = 0
        grain = Grain.HOUR
        if match.group("half") is not None:
            minute_number, grain = 30, Grain.MINUTE
        elif match.group("quarter") is not None:
            minute_number, grain = 15 * int(match.group("quarter")), Grain.MINUTE
        elif match.group("minute") is not None:
            minute_number, grain = read_small_number(match.group("minute")), Grain.MINUTE
        if hour_number is None or minute_number is None:
            return False
        if bare and not _bare_clock_is_time(match, original):
            return False
        hour, minute = hour_number, minute_number
    else:
        return None
    if not (0 <= hour <= 24 and 0 <= minute < 60):
        return False
    days_later = 0
    if (part in _AFTERNOON and hour < 12) or (part == "中午" and hour < 3):
        hour += 12
    elif part in _NIGHT:
        if hour == 12:
            hour = 24
        elif 5 <= hour < 12:
            hour += 12
        elif hour < 5:
            days_later = 1
    if hour == 24:
        hour, days_later = 0, days_later + 1
    return _Clock(hour, minute, grain, days_later)


def _bare_clock_is_time(match: re.Match[str], original: str) -> bool:
    """三点钟, 3点半, 3点20 are times; 一点 (a little) and 3点意见 are not."""
    if _NOT_A_CLOCK_AFTER.match(original, match.end()):
        return False
    start, end = match.span("hour")
    written_in_digits = all(c in _WRITTEN_DIGITS for c in original[start:end])
    said_exactly = match.group(0).endswith("钟") or match.group("minute") or match.group("half")
    return written_in_digits or bool(said_exactly)
