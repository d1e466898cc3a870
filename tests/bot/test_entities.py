"""Entity extraction: numbers, places, times and names in residents' messages."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.entities import Entity, extract_entities, parse_id_card, parse_phone
from bot.gazetteer import AreaGazetteer, AreaRow

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 22, 14, 35, 12, tzinfo=SHANGHAI)  # a Sunday
GAZETTEER = AreaGazetteer(
    [
        AreaRow(1, "清溪县", "county"),
        AreaRow(10, "城关镇", "town", 1),
        AreaRow(20, "东澳镇", "town", 1),
        AreaRow(11, "东门社区", "village", 10),
        AreaRow(21, "东门村", "village", 20),
        AreaRow(22, "渔港社区", "village", 20),
    ]
)
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, database=None)


def extracted(text: str, kind: str) -> list[tuple[str, str | int]]:
    """The (span text, value) of every entity of one kind in `text`."""
    return [
        (e.text, e.value)
        for e in extract_entities(text, now=NOW, gazetteer=GAZETTEER)
        if e.entity == kind
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13800138000", [("13800138000", "+8613800138000")]),
        ("+8613800138000", [("+8613800138000", "+8613800138000")]),
        ("+86 138 0013 8000", [("+86 138 0013 8000", "+8613800138000")]),
        ("0086-138-0013-8000", [("0086-138-0013-8000", "+8613800138000")]),
        ("8613800138000", [("8613800138000", "+8613800138000")]),
        ("１３８ ００１３ ８０００", [("１３８ ００１３ ８０００", "+8613800138000")]),
        ("幺三八零零幺三八零零零", [("幺三八零零幺三八零零零", "+8613800138000")]),
        ("打幺三八 零零幺三 八零零零一下", [("幺三八 零零幺三 八零零零", "+8613800138000")]),
        ("统一13800138000", [("13800138000", "+8613800138000")]),
        ("座机0591-28600000", [("0591-28600000", "+8659128600000")]),
        ("座机(0591) 2860 0000", [("(0591) 2860 0000", "+8659128600000")]),
        ("北京010 6234 5678", [("010 6234 5678", "+861062345678")]),
        ("13800138000，13900000001", [
            ("13800138000", "+8613800138000"), ("13900000001", "+8613900000001")
        ]),
        ("13800138000 13900000001", [
            ("13800138000", "+8613800138000"), ("13900000001", "+8613900000001")
        ]),
    ],
)  # fmt: skip
def test_phone_numbers(text: str, expected: list[tuple[str, str]]) -> None:
    """Mobiles and landlines in any written form become E.164 numbers."""
    assert extracted(text, "phone") == expected


@pytest.mark.parametrize(
    "text",
    [
        "12345678901",  # not a Chinese mobile prefix
        "138001380001",  # a digit too many
        "1380013800",  # a digit too few
        "0755 1234567",  # too short for its area code
        "28600000",  # no area code
        "一二三四五六七八九零一二",
        "路灯坏了",
    ],
)
def test_invalid_phone_numbers_are_not_entities(text: str) -> None:
    """Digit runs that libphonenumber does not accept yield no phone entity."""
    assert extracted(text, "phone") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("案件202611220017进度", [("202611220017", "202611220017")]),
        ("ZT202611220017", [("ZT202611220017", "202611220017")]),
        ("案件号ZT-2026 1122 0017", [("ZT-2026 1122 0017", "202611220017")]),
        ("2026-1122-0017", [("2026-1122-0017", "202611220017")]),
        ("２０２６１１２２００１７", [("２０２６１１２２００１７", "202611220017")]),
        ("二〇二六幺幺二二〇〇幺七", [("二〇二六幺幺二二〇〇幺七", "202611220017")]),
        ("20261122012345", [("20261122012345", "20261122012345")]),
    ],
)
def test_case_numbers(text: str, expected: list[tuple[str, str]]) -> None:
    """Every form bot.case_numbers accepts is found, with its span."""
    assert extracted(text, "case_number") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("身份证11010519491231002X", [("11010519491231002X", "11010519491231002X")]),
        ("身份证11010519491231002x。", [("11010519491231002x", "11010519491231002X")]),
        ("440308199003071235", [("440308199003071235", "440308199003071235")]),
        ("4403 0819 9003 0712 35", [("4403 0819 9003 0712 35", "440308199003071235")]),
        ("老身份证110105491231002", [("110105491231002", "110105491231002")]),
    ],
)
def test_id_cards(text: str, expected: list[tuple[str, str]]) -> None:
    """18-digit IDs with a valid checksum and 15-digit legacy IDs are found."""
    assert extracted(text, "id_card") == expected


@pytest.mark.parametrize(
    "text",
    [
        "110105194912310021",  # checksum wrong
        "440308199013071235",  # month 13 (checksum recomputed would not save it)
        "990308199003071231",  # no such province
        "110105209912310011",  # born in the future
        "110105491331002",  # legacy ID with month 13
    ],
)
def test_invalid_id_cards_are_not_entities(text: str) -> None:
    """A run of ID length with a bad checksum, date or province is no ID card (nor phone)."""
    entities = extract_entities(text, now=NOW)
    assert [e for e in entities if e.entity in {"id_card", "phone"}] == []


def test_id_card_and_case_number_beat_phone() -> None:
    """Where a longer reading is an ID or a case number, no phone is taken out of it."""
    entities = extract_entities("11010519491231002X 202611220017", now=NOW)
    assert [(e.entity, e.value) for e in entities] == [
        ("id_card", "11010519491231002X"),
        ("case_number", "202611220017"),
    ]


def test_sensitive_flags() -> None:
    """Phone, ID card and name are personal data; case numbers and places are not."""
    text = "我叫张三，电话13800138000，身份证11010519491231002X，案件202611220017，东门社区"
    flags = {e.entity: e.sensitive for e in extract_entities(text, now=NOW, gazetteer=GAZETTEER)}
    assert flags == {
        "name": True,
        "phone": True,
        "id_card": True,
        "case_number": False,
        "area": False,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我住城关镇东门社区", [("城关镇东门社区", 11)]),
        ("东澳镇东门村路灯坏了", [("东澳镇东门村", 21)]),
        ("渔港那边", [("渔港", 22)]),
        ("东门", [("东门", 11), ("东门", 21)]),
        ("东门口", []),
    ],
)
def test_areas(text: str, expected: list[tuple[str, int]]) -> None:
    """Areas come from the gazetteer, valued by id; a shared name gives one entity per area."""
    assert extracted(text, "area") == expected


def test_area_entity_carries_level_and_split_confidence() -> None:
    """An ambiguous place splits its confidence; each entity says its area's level."""
    entities = extract_entities("东门", now=NOW, gazetteer=GAZETTEER)
    assert [(e.level, e.confidence) for e in entities] == [("village", 0.425)] * 2


def test_no_areas_without_gazetteer() -> None:
    """Without a gazetteer no area entities are extracted."""
    assert extract_entities("城关镇东门社区", now=NOW) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("昨天下午路灯就坏了", "2026-11-21T13:00:00+08:00"),
        ("三天前", "2026-11-19T00:00:00+08:00"),
        ("上周五晚上8点半", "2026-11-13T20:30:00+08:00"),
        ("11月3日", "2026-11-03T00:00:00+08:00"),
    ],
)
def test_times(text: str, value: str) -> None:
    """Times are ISO datetimes relative to `now`, in its time zone."""
    [(_, found)] = extracted(text, "time")
    assert found == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我叫张三", [("张三", "张三")]),
        ("我叫张三想问一下低保", [("张三", "张三")]),
        ("你好，我叫王小明。", [("王小明", "王小明")]),
        ("我叫张家辉", [("张家辉", "张家辉")]),
        ("我叫欧阳娜娜", [("欧阳娜娜", "欧阳娜娜")]),
        ("我是东门社区的李四", [("李四", "李四")]),
        ("我是李四来问低保的", [("李四", "李四")]),
        ("本人王小明", [("王小明", "王小明")]),
        ("我的名字是陈静", [("陈静", "陈静")]),
        ("姓名：刘芳", [("刘芳", "刘芳")]),
        ("我姓陈", [("陈", "陈")]),
        ("我是王老师", [("王", "王")]),
        ("我叫周三", [("周三", "周三")]),  # a name, not Wednesday
    ],
)
def test_names(text: str, expected: list[tuple[str, str]]) -> None:
    """A resident introducing themself gives a name entity."""
    assert extracted(text, "name") == expected


@pytest.mark.parametrize(
    "text",
    [
        "我是来问低保的",
        "我是高中生",
        "我是江西人",
        "我是黄石村的",
        "我是张三的儿子",
        "我是低保户",
        "我叫了救护车",
        "我是",
        "我叫",
    ],
)
def test_non_names(text: str) -> None:
    """Phrases that only look like introductions give no name."""
    assert extracted(text, "name") == []


def test_surname_only_flag() -> None:
    """我姓陈 gives the surname with surname_only set."""
    [entity] = extract_entities("我姓陈", now=NOW)
    assert entity.surname_only
    assert entity.to_rasa()["surname_only"] is True


def test_to_rasa() -> None:
    """Entities convert to Rasa's entity dicts with our extractor name."""
    [phone] = extract_entities("电话13800138000", now=NOW)
    assert phone.to_rasa() == {
        "entity": "phone",
        "start": 2,
        "end": 13,
        "value": "+8613800138000",
        "extractor": "zhitong",
        "confidence_entity": 0.95,
        "sensitive": True,
    }
    [area] = extract_entities("渔港社区", now=NOW, gazetteer=GAZETTEER)
    assert area.to_rasa()["level"] == "village"
    [time] = extract_entities("昨天", now=NOW)
    assert time.to_rasa()["grain"] == "day"


def test_a_whole_message() -> None:
    """A realistic message gives each entity once, in order of position."""
    text = (
        "你好，我是城关镇东门社区的李四，电话138 0013 8000，昨天晚上8点路灯坏了，"
        "之前报过案件ZT202611220017"
    )
    entities = extract_entities(text, now=NOW, gazetteer=GAZETTEER)
    assert [(e.entity, e.value) for e in entities] == [
        ("area", 11),
        ("name", "李四"),
        ("phone", "+8613800138000"),
        ("time", "2026-11-21T20:00:00+08:00"),
        ("case_number", "202611220017"),
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("幺三八 零零幺三 八零零零", "+8613800138000"),
        ("+852 9123 4567", "+85291234567"),
        ("12345", None),
        ("", None),
    ],
)
def test_parse_phone(text: str, value: str | None) -> None:
    """A whole reply is read as one phone number, or None."""
    assert parse_phone(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("11010519491231002x", "11010519491231002X"),
        ("110105 19491231 002X", "11010519491231002X"),
        ("110105491231002", "110105491231002"),
        ("110105194912310021", None),
        ("", None),
    ],
)
def test_parse_id_card(text: str, value: str | None) -> None:
    """A whole reply is read as one ID number, or None."""
    assert parse_id_card(text) == value


def assert_spans_hold(text: str, entities: list[Entity]) -> None:
    """Every entity's span is its text, and spans of different entities do not overlap."""
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text
        assert 0 <= entity.start < entity.end <= len(text)
    spans = sorted({(e.start, e.end) for e in entities})
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


MESSY = st.text(
    st.sampled_from(
        "0123456789０１２３４５６７８９幺两零一二三+-() Xx\x00\x07\t\n"
        "城关镇东门社区渔港的我叫是姓张李王三小明昨天下午点号月日周上前"
        "aZé🙂ا"
    ),
    max_size=200,
)


@PROPERTY_SETTINGS
@given(MESSY | st.text(max_size=200))
def test_extract_entities_never_raises(text: str) -> None:
    """Any text gives entities whose spans are exactly their text."""
    assert_spans_hold(text, extract_entities(text, now=NOW, gazetteer=GAZETTEER))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x01\x02\x1f\x7f",
        "a" * 10_000,
        "1" * 10_000,
        "幺" * 10_000,
        ("我叫张三，电话13800138000，昨天下午城关镇东门社区路灯坏了。" * 400)[:10_000],
        "Zhitong 直通 مرحبا 🙂 13800138000 русский",
    ],
)
def test_extract_entities_on_odd_input(text: str) -> None:
    """Empty, long, control-character and mixed-script inputs are handled."""
    assert_spans_hold(text, extract_entities(text, now=NOW, gazetteer=GAZETTEER))
