"""Finding the county's towns, villages and grids in free text."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.gazetteer import AreaGazetteer, AreaRow, MatchKind, romanize

# A small county shaped like the demo data: two villages called 东门 in different towns, a town
# and a village sharing the stem 东澳, numbered grids and a grid with a name of its own.
ROWS = [
    AreaRow(1, "清溪县", "county"),
    AreaRow(10, "城关镇", "town", 1),
    AreaRow(20, "东澳镇", "town", 1),
    AreaRow(30, "青山乡", "town", 1),
    AreaRow(11, "东门社区", "village", 10),
    AreaRow(12, "西街社区", "village", 10),
    AreaRow(21, "东门村", "village", 20),
    AreaRow(22, "渔港社区", "village", 20),
    AreaRow(23, "东澳村", "village", 20),
    AreaRow(31, "竹坑村", "village", 30),
    AreaRow(32, "清水湾村", "village", 30),
    AreaRow(33, "青溪村", "village", 30),
    AreaRow(311, "竹坑村第一网格", "grid", 31),
    AreaRow(312, "竹坑村第二网格", "grid", 31),
    AreaRow(221, "码头网格", "grid", 22),
]
GAZETTEER = AreaGazetteer(ROWS)


def found(text: str) -> list[tuple[str, list[int]]]:
    """The matches in `text` as (span text, candidate ids)."""
    return [(m.text, [a.id for a in m.areas]) for m in GAZETTEER.find(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我住东门社区", [("东门社区", [11])]),
        ("渔港社区路灯坏了", [("渔港社区", [22])]),
        ("青山乡", [("青山乡", [30])]),
        ("东澳镇", [("东澳镇", [20])]),
        ("东澳村", [("东澳村", [23])]),
        ("竹坑村第二网格", [("竹坑村第二网格", [312])]),
        ("码头网格", [("码头网格", [221])]),
    ],
)
def test_find_full_names(text: str, expected: list[tuple[str, list[int]]]) -> None:
    """A full name matches its area exactly."""
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我在渔港那边", [("渔港", [22])]),
        ("青山", [("青山", [30])]),
        ("我是东澳的", [("东澳", [20])]),  # the town before the village of the same stem
        ("清水湾路口", [("清水湾", [32])]),
        ("渔港居委会", [("渔港居委会", [22])]),
        ("西街村委会", [("西街村委会", [12])]),
        ("竹坑第一网格", [("竹坑第一网格", [311])]),
        ("竹坑村二网格", [("竹坑村二网格", [312])]),
        ("码头", [("码头", [221])]),
    ],
)
def test_find_names_without_or_with_other_suffixes(
    text: str, expected: list[tuple[str, list[int]]]
) -> None:
    """Names are found without their suffix (村, 社区, 镇, 乡, 网格) or with another one."""
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("清水河村", [("清水河村", [32])], MatchKind.FUZZY),
        ("清水弯", [("清水弯", [32])], MatchKind.HOMOPHONE),
        ("清溪村", [("清溪村", [33])], MatchKind.HOMOPHONE),
        ("东们社区", [("东们社区", [11, 21])], MatchKind.HOMOPHONE),
        ("渔岗社区", [("渔岗社区", [22])], MatchKind.HOMOPHONE),
        ("鱼港社区", [("鱼港社区", [22])], MatchKind.HOMOPHONE),
    ],
)
def test_find_near_misses(
    text: str, expected: list[tuple[str, list[int]]], kind: MatchKind
) -> None:
    """One wrong character in a longer name, or a same-sounding one, still matches."""
    assert found(text) == expected
    assert GAZETTEER.find(text)[0].kind is kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("城关镇东门社区", [("城关镇东门社区", [11])]),
        ("东澳镇东门村", [("东澳镇东门村", [21])]),
        ("城关镇东门路灯坏了", [("城关镇东门", [11])]),
        ("东门社区", [("东门社区", [11])]),  # the full name is 城关镇's; 东澳镇's is 东门村
        ("东门居委会", [("东门居委会", [11, 21])]),
        ("我是城关镇的，东门的路灯坏了", [("城关镇", [10]), ("东门", [11])]),
        ("青山乡竹坑村第一网格", [("青山乡竹坑村第一网格", [311])]),
    ],
)
def test_parent_decides_between_namesakes(text: str, expected: list[tuple[str, list[int]]]) -> None:
    """A town named before (or elsewhere in the text) picks its own village of a shared name."""
    assert found(text) == expected


def test_ambiguous_match_keeps_every_candidate() -> None:
    """A name two villages share, with nothing to decide, keeps both and says so."""
    [match] = GAZETTEER.find("东门")
    assert match.ambiguous
    assert [a.id for a in match.areas] == [11, 21]


@pytest.mark.parametrize(
    "text",
    [
        "东门口有个坑",
        "城东门",
        "鱼港",  # sounds like 渔港, but bare two-character names must be exact
        "大家好",
        "渔港口",
        "清水",
        "第一网格",
        "",
        "东门东门东门",
    ],
)
def test_no_false_positives(text: str) -> None:
    """Short names inside longer words and bare two-character near misses match nothing."""
    assert found(text) == []


def test_bare_two_character_stems_need_a_word_boundary() -> None:
    """东门 counts after 在 and before 那边, but not in 东门口."""
    assert found("在东门那边") == [("东门", [11, 21])]
    assert found("东门口") == []


def test_county_name_without_suffix() -> None:
    """The county is found by its name without 县."""
    assert found("清溪县") == [("清溪县", [1])]
    assert found("我是清溪的") == [("清溪", [1])]


def test_rows_in_any_order_and_duplicates() -> None:
    """Children may come before parents; a repeated id is indexed once; blank names skipped."""
    gazetteer = AreaGazetteer(
        [
            AreaRow(2, "东门社区", "village", 1),
            AreaRow(1, "城关镇", "town"),
            AreaRow(2, "东门社区", "village", 1),
            AreaRow(3, "", "village", 1),
        ]
    )
    assert [m.areas[0].id for m in gazetteer.find("城关镇东门社区")] == [2]
    assert [a.id for a in gazetteer.ancestors(2)] == [1]
    assert gazetteer.get(3) is None


def test_parent_cycles_do_not_hang() -> None:
    """Broken parent links (a cycle) end the ancestor walk."""
    gazetteer = AreaGazetteer([AreaRow(1, "甲镇", "town", 2), AreaRow(2, "乙村", "village", 1)])
    assert [a.id for a in gazetteer.ancestors(1)] == [2, 1]


def test_empty_gazetteer() -> None:
    """A gazetteer without areas finds nothing."""
    assert AreaGazetteer([]).find("城关镇东门社区") == []


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.text(
        st.sampled_from("城关镇东门社区渔港竹坑村第一二网格清溪水湾青山乡口的在 1\x00a"),
        max_size=80,
    )
    | st.text(max_size=80)
)
def test_find_never_raises_and_spans_match(text: str) -> None:
    """Any text gives non-overlapping matches whose spans are the text they report."""
    matches = GAZETTEER.find(text)
    for match in matches:
        assert text[match.start : match.end] == match.text
        assert 1 <= len(match.areas) <= 3
    assert all(a.end <= b.start for a, b in itertools.pairwise(matches))


def test_find_on_long_input() -> None:
    """10,000 characters are searched in reasonable time."""
    text = "城关镇东门社区的路灯坏了，" * 769 + "abc"
    assert len(text) == 10_000
    matches = GAZETTEER.find(text)
    assert matches
    assert all(m.areas[0].id == 11 for m in matches)


# --- places written in pinyin (English writers) --------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dongmen", [("Dongmen", [11, 21])]),
        ("dong men", [("dong men", [11, 21])]),
        ("I live in Dongmen village", [("Dongmen village", [11, 21])]),
        ("Yugang community", [("Yugang community", [22])]),
        ("yugang", [("yugang", [22])]),
        ("Dongao town", [("Dongao town", [20])]),
        ("Dong'ao village", [("Dong'ao village", [23])]),
        ("Dong-ao Zhen", [("Dong-ao Zhen", [20])]),
        ("Dongaozhen", [("Dongaozhen", [20])]),
        ("Dongmencun", [("Dongmencun", [11, 21])]),
        ("Qingshan township", [("Qingshan township", [30])]),
        ("Qingshuiwan", [("Qingshuiwan", [32])]),
        ("Zhukeng Village", [("Zhukeng Village", [31])]),
        ("Matou grid", [("Matou grid", [221])]),
        ("Qingxi County", [("Qingxi County", [1])]),
        ("住在Yugang", [("Yugang", [22])]),
    ],
)
def test_find_pinyin_names(text: str, expected: list[tuple[str, list[int]]]) -> None:
    """Whole Latin words spelling a name's pinyin; a level word after it narrows the level."""
    assert found(text) == expected
    assert all(m.kind is MatchKind.PINYIN for m in GAZETTEER.find(text))


def test_a_level_word_after_a_pinyin_name_counts_more() -> None:
    """Dongmen village is surer than a bare Dongmen."""
    [bare] = GAZETTEER.find("Dongmen")
    [with_level] = GAZETTEER.find("Dongmen village")
    assert with_level.confidence > bare.confidence


def test_another_pinyin_place_decides_between_namesakes() -> None:
    """Dongmen, Chengguan town: the 东门 of 城关镇."""
    assert found("Dongmen, Chengguan town") == [("Dongmen", [11]), ("Chengguan town", [10])]


@pytest.mark.parametrize(
    "text",
    [
        "Don gmen",  # word breaks must fall between syllables
        "the men went to the dong",
        "Dongmenkou",
        "Dong, men",  # a comma is no joiner
        "Yugang town",  # 渔港 is no town
        "gang",
    ],
)
def test_pinyin_near_misses_find_nothing(text: str) -> None:
    """Parts of words, wrong breaks and wrong levels match nothing."""
    assert found(text) == []


def test_short_lower_case_pinyin_needs_a_capital_or_a_level_word() -> None:
    """安乐 is spelt anle: lower-case alone it may be English; Anle or anle village is the place."""
    gazetteer = AreaGazetteer([AreaRow(1, "和平镇", "town"), AreaRow(2, "安乐村", "village", 1)])
    assert gazetteer.find("anle") == []
    assert [m.areas[0].id for m in gazetteer.find("Anle")] == [2]
    assert [m.areas[0].id for m in gazetteer.find("anle village")] == [2]
    assert [m.areas[0].id for m in gazetteer.find("Heping town")] == [1]


def test_u_umlaut_is_spelt_v_or_u() -> None:
    """绿水村 is Lvshui or Lushui."""
    gazetteer = AreaGazetteer([AreaRow(1, "绿水村", "village")])
    assert [m.areas[0].id for m in gazetteer.find("Lvshui village")] == [1]
    assert [m.areas[0].id for m in gazetteer.find("Lushui village")] == [1]


@pytest.mark.parametrize(
    ("name", "romanized"),
    [
        ("东门社区", "Dongmen Community"),
        ("和平镇", "Heping Town"),
        ("青山乡", "Qingshan Township"),
        ("东门村", "Dongmen Village"),
        ("竹坑村第一网格", "Zhukeng Village Grid 1"),
        ("码头网格", "Matou Grid"),
        ("清溪县", "Qingxi County"),
        ("城关街道", "Chengguan Subdistrict"),
        ("渔港社区居委会", "Yugang Community"),
        ("绿水村", "Lüshui Village"),
    ],
)
def test_romanize(name: str, romanized: str) -> None:
    """Names in pinyin with English level words, for English replies."""
    assert romanize(name) == romanized
