"""The words the dialogue listens for: survey answers, choices, commands, danger, language."""

from __future__ import annotations

import pytest

from bot.dialogue import words
from bot.dialogue.words import compact
from intents.catalog import catalog


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("1", 1),
        ("2", 2),
        ("3", 3),
        ("4", 4),
        ("5", 5),
        ("①", 1),
        ("⑤", 5),
        ("１", 1),
        ("一", 1),
        ("五", 5),
        ("5分", 5),
        ("给3分", 3),
        ("非常满意", 1),
        ("很满意", 1),
        ("十分满意！", 1),
        ("满意", 2),
        ("比较满意", 2),
        ("基本满意", 3),
        ("一般般吧", 3),
        ("不满意", 4),
        ("不太满意", 4),
        ("不是很满意", 4),
        ("非常不满意", 5),
        ("很不满意!!", 5),
        ("五星好评", 1),
        ("1 非常满意", 1),
        ("very satisfied", 1),
        ("Satisfied", 2),
        ("dissatisfied", 4),
        ("very dissatisfied", 5),
    ],
)
def test_survey_answers_on_the_national_scale(text: str, score: int) -> None:
    """Digits, circled digits, Chinese numerals and words map to 1 非常满意 … 5 非常不满意."""
    assert words.read_rating(compact(text)) == score


@pytest.mark.parametrize(
    "text",
    ["", "0", "6", "10", "12", "嗯？", "什么", "1 非常不满意", "202611230017", "路灯又坏了" * 9],
)
def test_anything_else_is_no_survey_answer(text: str) -> None:
    """Out of range, unclear, contradictory or long messages are not ratings."""
    assert words.read_rating(compact(text)) is None


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ("1", 1),
        ("2.", 2),
        ("②", 2),
        ("二", 2),
        ("两", 2),
        ("第三个", 3),
        ("选1", 1),
        ("第2项", 2),
        ("0", 0),
        ("two", 2),
        ("the second one", 2),
        ("Option 3", 3),
    ],
)
def test_numbered_choices(text: str, choice: int) -> None:
    """1/2/3, ①, 一/二, 第二个, two: the number picked."""
    assert words.read_choice(compact(text)) == choice


@pytest.mark.parametrize("text", ["12", "路灯", "一下", "好的", ""])
def test_no_choice(text: str) -> None:
    """Words and long numbers pick nothing."""
    assert words.read_choice(compact(text)) is None


@pytest.mark.parametrize(
    "text",
    ["退订", "TD", "td", "T", "STOP", "Stop.", "取消订阅", "回复TD退订", "我要退订", "unsubscribe"],
)
def test_opt_out_words(text: str) -> None:
    """退订, TD, T, STOP, 取消订阅 in any case and punctuation."""
    assert words.is_opt_out(compact(text))


@pytest.mark.parametrize(
    "text", ["不退订", "我上次退订了但是现在又想反映一个路灯的问题", "stopped", "tt"]
)
def test_not_opt_out(text: str) -> None:
    """A negation, a long message mentioning 退订 or a word containing stop is no opt-out."""
    assert not words.is_opt_out(compact(text))


@pytest.mark.parametrize(
    "text", ["订阅", "恢复订阅", "START", "yes", "取消退订", "我要重新订阅短信", "帮我恢复通知"]
)
def test_opt_in_words(text: str) -> None:
    """订阅 and START opt back in."""
    assert words.is_opt_in(compact(text))


@pytest.mark.parametrize(
    ("text", "person"),
    [("人工", True), ("转人工", True), ("我要人工客服", True), ("talk to a person", True)],
)
def test_asking_for_a_person(text: str, person: bool) -> None:
    """人工, 转人工, talk to a person."""
    assert words.asks_for_person(compact(text)) is person


def test_complaints_about_staff_are_not_requests_for_a_person() -> None:
    """工作人员不作为 is a complaint, not 人工."""
    assert not words.asks_for_person(compact("村里工作人员不作为"))


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("着火了", "safety_fire_hazard"),
        ("闻到煤气味，煤气泄漏了", "safety_fire_hazard"),
        ("天然气漏气", "safety_fire_hazard"),
        ("电线掉下来了", "safety_fire_hazard"),
        ("后山塌方", "infra_road"),
        ("有人受伤了", "health_medical_help"),
        ("水管爆了", "infra_water"),
        ("the house is on fire", "safety_fire_hazard"),
        ("a power line is down on our road", "safety_fire_hazard"),
        ("My neighbour is injured", "health_medical_help"),
    ],
)
def test_danger_words(text: str, item: str) -> None:
    """Danger to life or property and the concern it points to."""
    from bot.normalize import normalize

    normalised = normalize(text)
    assert words.urgent_item(words.squeeze(normalised), words.spaced(normalised)) == item


@pytest.mark.parametrize(
    "text", ["路灯坏了", "我被公司解雇了", "I was fired last month", "水管破了在漏水"]
)
def test_no_danger(text: str) -> None:
    """Ordinary reports are not emergencies (fired ≠ fire)."""
    from bot.normalize import normalize

    normalised = normalize(text)
    assert words.urgent_item(words.squeeze(normalised), words.spaced(normalised)) is None


def test_every_danger_word_points_to_a_catalog_concern() -> None:
    """The items danger words fall back to exist and are concerns."""
    for _, code in words.URGENT_PATTERNS:
        assert catalog().item(code).kind == "concern"


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("要带什么材料", "materials"),
        ("需要交钱吗", "fees"),
        ("多久能办好", "time"),
        ("去哪里办", "where"),
        ("我符合条件吗", "eligibility"),
        ("怎么办理", "process"),
        ("What documents do I need?", "materials"),
        ("How much does it cost", "fees"),
        ("how long does it take", "time"),
        ("我想办低保", None),
    ],
)
def test_question_topics(text: str, topic: str | None) -> None:
    """材料 / 费用 / 多久 / 哪里 / 条件 / 流程 map to the catalog's FAQ topics."""
    from bot.normalize import normalize

    normalised = normalize(text)
    assert words.question_topic(words.squeeze(normalised), words.spaced(normalised)) == topic


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("路灯坏了", "zh"),
        ("The street light is broken", "en"),
        ("my case number is 202611230017", "en"),
        ("1", None),
        ("ok", None),
        ("TD", None),
        ("ZT202611230017", None),
        ("", None),
        ("路灯 broken", "zh"),
    ],
)
def test_language_detection(text: str, language: str | None) -> None:
    """Chinese characters make it Chinese; mostly Latin words make it English; else unsaid."""
    assert words.detect_language(text) == language


@pytest.mark.parametrize(
    ("text", "name"),
    [("张三", True), ("欧阳娜娜", True), ("东门村", False), ("好的", False), ("是", False)],
)
def test_bare_names(text: str, name: bool) -> None:
    """Two to four Chinese characters that are no place and no answer word."""
    assert words.is_bare_name(text) is name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("My name is Li Wei, Dongmen village", "Li Wei"),
        ("Li Wei", "Li Wei"),
        ("I live in Dongmen", None),
        ("yes", None),
    ],
)
def test_english_names(text: str, name: str | None) -> None:
    """A name in an English reply, without the place that may follow it."""
    assert words.english_name(text) == name


@pytest.mark.parametrize(
    "text",
    [
        *("帮我代办", "代办", "帮我办", "好的帮我办一下", "要", "可以", "需要", "行"),
        *("我要代办", "麻烦帮我代办", "好的，帮我办理吧", "帮我反映一下", "那就办吧"),
        *("Yes please, do it for me", "go ahead"),
    ],
)
def test_words_that_accept_an_offer(text: str) -> None:
    """A yes, or a request to have it done."""
    assert words.accepts_offer(compact(text))


@pytest.mark.parametrize(
    "text", ["不要代办", "不用办", "别办了", "不需要", "帮我办低保", "代办员是谁", "no", "办不了"]
)
def test_words_that_do_not_accept_an_offer(text: str) -> None:
    """Negations, and longer messages (those are read with the NLU)."""
    assert not words.accepts_offer(compact(text))


def test_a_request_to_have_it_done_at_the_start_of_a_message() -> None:
    """帮我办低保 begins with 帮我办; 不用帮我办 does not."""
    assert words.asks_to_have_it_done(compact("帮我办低保"))
    assert words.asks_to_have_it_done(compact("好的，请帮我代办低保"))
    assert not words.asks_to_have_it_done(compact("不用帮我办"))
    assert not words.asks_to_have_it_done(compact("低保怎么办"))


@pytest.mark.parametrize(
    ("leftover", "only_place"),
    [
        ("", True),
        ("在", True),
        ("就在那边", True),
        ("地点是", True),
        ("我家在这边", True),
        ("itsin", True),
        ("的路灯坏了", False),
        ("水管爆了", False),
        ("谢谢", False),
        ("在" * 30, False),
    ],
)
def test_only_place_words(leftover: str, only_place: bool) -> None:
    """What may surround a place in a message that says only where."""
    assert words.only_place_words(leftover) is only_place


@pytest.mark.parametrize(
    ("leftover", "only_intro"),
    [
        ("我叫住在", True),
        ("您好我叫", True),
        ("我是的", True),
        ("mynameisilivein", True),
        ("我叫的路灯坏了", False),
        ("我叫要办低保", False),
    ],
)
def test_only_introduction_words(leftover: str, only_intro: bool) -> None:
    """What may surround a name and a home in an introduction."""
    assert words.only_introduction_words(leftover) is only_intro


def test_an_english_name_stops_where_the_place_begins() -> None:
    """Li Wei from Dongmen: the name is Li Wei."""
    assert words.english_name("I am Li Wei from Dongmen") == "Li Wei"
    assert words.introduces_self_in_english("Hi, my name is Li Wei")
    assert not words.introduces_self_in_english("I live in Dongmen")
