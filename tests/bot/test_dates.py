"""Dates and times in residents' words, read relative to a given `now`."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dates import Grain, find_times, parse_time, read_small_number

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Sunday 22 November 2026, 14:35:12 in Shanghai.
NOW = dt.datetime(2026, 11, 22, 14, 35, 12, tzinfo=SHANGHAI)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 11, year: int = 2026) -> str:
    """The ISO form of a moment in Shanghai time."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).isoformat()


@pytest.mark.parametrize(
    ("text", "value", "grain"),
    [
        ("今天", at(22), Grain.DAY),
        ("昨天", at(21), Grain.DAY),
        ("前天", at(20), Grain.DAY),
        ("大前天", at(19), Grain.DAY),
        ("明天", at(23), Grain.DAY),
        ("昨天下午", at(21, 13), Grain.PART_OF_DAY),
        ("今早", at(22, 6), Grain.PART_OF_DAY),
        ("昨晚", at(21, 18), Grain.PART_OF_DAY),
        ("上午", at(22, 8), Grain.PART_OF_DAY),
        ("三天前", at(19), Grain.DAY),
        ("3天前", at(19), Grain.DAY),
        ("两周前", at(8), Grain.DAY),
        ("一个月前", at(22, month=10), Grain.DAY),
        ("半个月前", at(7), Grain.DAY),
        ("两小时前", at(22, 12, 35), Grain.HOUR),
        ("十分钟前", at(22, 14, 25), Grain.MINUTE),
        ("三天后", at(25), Grain.DAY),
        ("上周五", at(13), Grain.DAY),
        ("上星期五", at(13), Grain.DAY),
        ("这周一", at(16), Grain.DAY),
        ("下周一", at(23), Grain.DAY),
        ("周日", at(22), Grain.DAY),
        ("星期天", at(22), Grain.DAY),
        ("周五", at(20), Grain.DAY),
        ("上周", at(9), Grain.WEEK),
        ("上个月", at(1, month=10), Grain.MONTH),
        ("本月", at(1), Grain.MONTH),
        ("去年", at(1, month=1, year=2025), Grain.YEAR),
        ("5号", at(5), Grain.DAY),
        ("二十三号", at(23), Grain.DAY),
        ("11月3日", at(3), Grain.DAY),
        ("十一月三号", at(3), Grain.DAY),
        ("2026年11月3日", at(3), Grain.DAY),
        ("二〇二五年三月", at(1, month=3, year=2025), Grain.MONTH),
        ("11-03", at(3), Grain.DAY),
        ("2026-11-03", at(3), Grain.DAY),
        ("下午三点", at(22, 15), Grain.HOUR),
        ("晚上8点半", at(22, 20, 30), Grain.MINUTE),
        ("早上7点15分", at(22, 7, 15), Grain.MINUTE),
        ("中午1点", at(22, 13), Grain.HOUR),
        ("晚上12点", at(23, 0), Grain.HOUR),
        ("半夜两点", at(23, 2), Grain.HOUR),
        ("昨天晚上11点", at(21, 23), Grain.HOUR),
        ("明天下午两点半", at(23, 14, 30), Grain.MINUTE),
        ("十一月三日上午十点", at(3, 10), Grain.HOUR),
        ("2026-11-03 20:30", at(3, 20, 30), Grain.MINUTE),
        ("3点", at(22, 3), Grain.HOUR),
        ("三点钟", at(22, 3), Grain.HOUR),
        ("刚才", at(22, 14, 35), Grain.MINUTE),
    ],
)
def test_find_times_reads_each_form(text: str, value: str, grain: Grain) -> None:
    """Each form a resident uses names the expected moment, as the start of its span."""
    [mention] = find_times(text, now=NOW)
    assert (mention.text, mention.value.isoformat(), mention.grain) == (text, value, grain)


@pytest.mark.parametrize(
    "text",
    [
        "我有三点意见",
        "快一点",
        "3号楼漏水",
        "5号线",
        "每两周一次",
        "等了10-15天",
        "1/2的人",
        "第3号",
        "2月30日",
        "25点",
        "13800138000",
        "138-1103-8000",
        "路灯坏了",
        "",
    ],
)
def test_find_times_ignores_non_times(text: str) -> None:
    """Points, floors, lines, ranges, fractions, impossible dates and numbers are no times."""
    assert find_times(text, now=NOW) == []


def test_find_times_in_a_sentence() -> None:
    """Several expressions in one message come back in order with their spans."""
    text = "上周五下午三点报的，今天还没人来"
    mentions = find_times(text, now=NOW)
    assert [(m.text, m.value.isoformat()) for m in mentions] == [
        ("上周五下午三点", at(13, 15)),
        ("今天", at(22)),
    ]
    assert all(text[m.start : m.end] == m.text for m in mentions)


def test_find_times_keeps_the_time_zone_of_now() -> None:
    """Values carry `now`'s time zone."""
    utc_now = NOW.astimezone(dt.UTC)
    [mention] = find_times("昨天", now=utc_now)
    assert mention.value.tzinfo is dt.UTC
    assert mention.value.date() == dt.date(2026, 11, 21)


def test_find_times_across_year_start() -> None:
    """上个月 in January is December of the year before."""
    [mention] = find_times("上个月", now=dt.datetime(2027, 1, 10, 9, tzinfo=SHANGHAI))
    assert mention.value == dt.datetime(2026, 12, 1, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("昨天下午", dt.datetime(2026, 11, 21, 13, tzinfo=SHANGHAI)),
        (" 11月3日 ", dt.datetime(2026, 11, 3, tzinfo=SHANGHAI)),
        ("昨天下午路灯坏了", None),
        ("不知道", None),
    ],
)
def test_parse_time_reads_a_whole_reply(text: str, value: dt.datetime | None) -> None:
    """A reply that is one time expression is read; anything else is None."""
    assert parse_time(text, now=NOW) == value


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("3", 3),
        ("08", 8),
        ("十", 10),
        ("十5", 15),
        ("2十", 20),
        ("2十3", 23),
        ("十十", None),
        ("", None),
    ],
)
def test_read_small_number(text: str, number: int | None) -> None:
    """Numbers up to 99 with 十, as left by to_ascii_digits, are read."""
    assert read_small_number(text) == number


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.text(
        st.sampled_from("0123456789十年月日号点半分周上下这本今昨明天前后午晚早个星期两三-/: \x00"),
        max_size=60,
    )
    | st.text(max_size=100)
)
def test_find_times_never_raises(text: str) -> None:
    """Any text, however odd, gives mentions whose spans match the text."""
    for mention in find_times(text, now=NOW):
        assert text[mention.start : mention.end] == mention.text
        assert mention.value.tzinfo is SHANGHAI


def test_find_times_on_extreme_years() -> None:
    """Years at the edge of what datetime can hold are skipped, not raised."""
    assert find_times("9999年12月31日晚上12点", now=NOW) == []
    assert find_times("0000年1月1日", now=NOW) == []
