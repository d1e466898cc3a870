"""Follow-ups a smoke test through the SMS path got wrong, as tables of turns.

- a yes in words (帮我代办, 好的帮我办一下, 需要) takes up an offer;
- a place on its own right after a receipt completes the case just opened;
- a self-introduction (我叫…，住在…) is remembered, and the resident asked what they need;
- English writers' places in pinyin (Dongmen, Yugang community, Dongao town);
- 0 still corrects the case after a 是 in between, for a few minutes or until a new request.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bot.dialogue import Stage
from bot.effects import AFTER_SET_CASE_PLACE, OpenCase, Reply, SetCasePlace, UpdateContact
from bot.texts import sms_segments
from tests.bot.test_dialogue_fixtures import (
    CASE_NUMBER,
    CHENGGUAN,
    DONGAO,
    DONGMEN_SHEQU,
    NOW,
    PENSION_QUESTION,
    STREETLIGHT,
    UNSURE_ROAD,
    XIJIE,
    YUGANG,
    Say,
    nlu,
    play,
    summary,
    text_of,
)

OPEN = ("open_case", "reply")
REPLY = ("reply",)
PLACE_SET = ("set_case_place", "reply")
AFFIRM = nlu(("affirm", 0.95))
DENY = nlu(("deny", 0.93))
# What the project's model says to some of these words (tests/fixtures/nlu.py), roughly.
PARSES = {
    "帮我代办": nlu(("out_of_scope", 0.98)),
    "代办": nlu(("land_title", 0.22), ("social_hukou", 0.16)),
    "帮我办": nlu(("out_of_scope", 1.0)),
    "好的帮我办一下": nlu(("affirm", 0.94)),
    "要": nlu(("affirm", 0.75), ("deny", 0.15)),
    "可以": nlu(("affirm", 1.0)),
    "需要": nlu(("deny", 0.65), ("health_medical_help", 0.14)),
    "行": nlu(("affirm", 1.0)),
    "我要代办": nlu(("request_human", 0.88)),
    "麻烦帮我代办": nlu(("thanks", 0.89)),
    "帮我办一下吧": nlu(("out_of_scope", 0.99)),
    "帮我办低保": PENSION_QUESTION,
}
BURST_PIPE = ("水管爆了到处是水", nlu(("out_of_scope", 0.4)))
INTRODUCTION = nlu(
    ("assist_temporary_relief", 0.19), ("assist_elderly_care", 0.12), ("dispute_neighbor", 0.05)
)


# --- 1. a yes in words takes up the offer --------------------------------------------------


@pytest.mark.parametrize("text", list(PARSES))
def test_a_request_to_have_it_done_accepts_the_offer_after_an_answer(text: str) -> None:
    """要代办请回复1 … 帮我代办: the proxy service goes ahead, as with 1."""
    talk = play(
        [
            Say(
                "低保要带什么材料？",
                PENSION_QUESTION,
                REPLY,
                ("faq_answer_named",),
                Stage.AFTER_ANSWER,
            ),
            Say(text, PARSES[text], REPLY, ("ask_details",), Stage.ASK_DETAILS),
            Say("张三，东门村", {}, ("open_case", "update_contact", "reply")),
        ]
    )
    assert talk.last(OpenCase).for_proxy_agent


@pytest.mark.parametrize("text", list(PARSES))
def test_a_request_to_have_it_done_accepts_the_proxy_offer(text: str) -> None:
    """回复1请代办员代办 … 好的帮我办一下: the same."""
    play(
        [
            Say("我想申请低保", PENSION_QUESTION, stage=Stage.OFFER_PROXY),
            Say(text, PARSES[text], REPLY, ("ask_details",), Stage.ASK_DETAILS),
        ]
    )


@pytest.mark.parametrize(
    ("text", "parse"),
    [("帮我反映一下", {}), ("好的帮我办一下", PARSES["好的帮我办一下"]), ("要", {}), ("行", {})],
)
def test_a_yes_in_words_goes_ahead_with_a_concern(text: str, parse: dict[str, object]) -> None:
    """要反映此事请回复1 … 帮我反映一下: asked where, as after 1."""
    play(
        [
            Say("路灯坏了一般多久能修好？", STREETLIGHT, REPLY, ("faq_answer_named",)),
            Say(text, parse, REPLY, ("ask_place",), Stage.ASK_PLACE),
        ]
    )


@pytest.mark.parametrize("text", ["帮我办", "可以", "需要", "好的帮我办一下"])
def test_a_yes_in_words_confirms_the_item_and_the_known_village(text: str) -> None:
    """您说的是「…」吗 and 是在…吗 take the same yes words."""
    talk = play(
        [
            Say("路上有个大坑", UNSURE_ROAD, REPLY, ("confirm_item",)),
            Say(text, PARSES.get(text, {}), REPLY, ("ask_place_known",), Stage.ASK_PLACE),
            Say(text, PARSES.get(text, {}), OPEN, ("receipt",)),
        ],
        base={"area_id": XIJIE},
    )
    assert talk.last(OpenCase).area_id == XIJIE


@pytest.mark.parametrize(
    ("text", "parse", "replies"),
    [
        ("不要代办", DENY, ("anything_else",)),
        ("不用了", {}, ("anything_else",)),
        ("2", {}, ("anything_else",)),
    ],
)
def test_a_no_is_not_taken_for_a_yes(
    text: str, parse: dict[str, object], replies: tuple[str, ...]
) -> None:
    """Negations never accept: nothing is opened or asked."""
    play(
        [
            Say("低保要带什么材料？", PENSION_QUESTION),
            Say(text, parse, REPLY, replies, Stage.IDLE),
        ]
    )


def test_a_yes_in_english_accepts_the_offer() -> None:
    """Reply 1 to have it done for you … yes please do it."""
    talk = play(
        [
            Say("what do I need for the minimum living allowance?", PENSION_QUESTION),
            Say("Yes please, do it for me", {}, REPLY, ("ask_details",)),
        ]
    )
    assert talk.last(Reply).language == "en"


def test_i_want_it_done_asks_for_a_person_only_outside_an_offer() -> None:
    """人工 itself still hands off while an offer is pending."""
    play(
        [
            Say("低保要带什么材料？", PENSION_QUESTION),
            Say("转人工", {}, ("hand_off", "reply"), ("hand_off_open",)),
        ]
    )


# --- 2. a place on its own right after a receipt -------------------------------------------


@pytest.mark.parametrize(
    ("text", "area"),
    [
        ("东澳镇", DONGAO),
        ("在渔港社区", YUGANG),
        ("渔港社区那边", YUGANG),
        ("就在东澳镇渔港社区。", YUGANG),
        ("地点是西街社区", XIJIE),
    ],
)
def test_a_place_right_after_an_urgent_receipt_completes_that_case(text: str, area: int) -> None:
    """水管爆了 opens at once without a place; 东澳镇 next is where it is, not a new request."""
    talk = play(
        [
            Say(*BURST_PIPE, OPEN, ("receipt_urgent",), Stage.AFTER_RECEIPT),
            Say(text, nlu(("env_garbage", 0.13)), PLACE_SET, ("case_place_set",)),
        ]
    )
    assert talk.last(OpenCase).area_id is None
    assert talk.last(SetCasePlace) == SetCasePlace(number=CASE_NUMBER, area_id=area)
    reply = talk.last(Reply)
    assert reply.after == AFTER_SET_CASE_PLACE
    text_sent = text_of(talk.effects[1])
    assert text_sent.startswith("已补充地点：") and f"案件号{CASE_NUMBER}" in text_sent
    assert talk.state.stage is Stage.AFTER_RECEIPT and talk.state.last_case is not None
    assert talk.state.last_case.area_id == area


def test_the_place_is_named_with_its_town() -> None:
    """The confirmation names the place as residents tell places apart."""
    talk = play([Say(*BURST_PIPE), Say("渔港社区", {}, PLACE_SET)])
    assert "已补充地点：东澳镇渔港社区，案件号" in text_of(talk.effects[1])


def test_a_place_after_a_yes_still_completes_the_case() -> None:
    """水管爆了 → 是 → 东澳镇: the place still goes to the case."""
    talk = play(
        [
            Say(*BURST_PIPE),
            Say("是", AFFIRM, REPLY, ("acknowledge",), Stage.IDLE),
            Say("东澳镇", {}, PLACE_SET, ("case_place_set",)),
        ]
    )
    assert talk.last(SetCasePlace).area_id == DONGAO


def test_a_place_after_an_ordinary_receipt_completes_it_too() -> None:
    """A street light reported with its town only; the village next refines it."""
    talk = play(
        [
            Say("城关镇的路灯坏了", STREETLIGHT, OPEN),
            Say("东门", {}, PLACE_SET, ("case_place_set",)),  # the 东门 of 城关镇
        ]
    )
    assert talk.last(SetCasePlace).area_id == DONGMEN_SHEQU


def test_a_vaguer_place_keeps_the_finer_one() -> None:
    """A case in 渔港社区, then 东澳镇: the case keeps 渔港社区."""
    talk = play([Say("渔港社区水管爆了", {}), Say("东澳镇", {}, PLACE_SET)])
    assert talk.last(SetCasePlace).area_id == YUGANG


def test_a_place_in_english_completes_the_case() -> None:
    """There is a gas leak … Yugang community: the place, named in pinyin in the reply."""
    talk = play(
        [
            Say("There is a gas leak in my building", {}, OPEN, ("receipt_urgent",)),
            Say("Yugang community", {}, PLACE_SET, ("case_place_set",)),
        ]
    )
    assert talk.last(SetCasePlace).area_id == YUGANG
    sent = text_of(talk.effects[1])
    assert "Place added: Yugang Community, Dongao Town" in sent
    assert sms_segments(sent) == sms_segments("a" * len(sent))  # GSM-7


@pytest.mark.parametrize(
    ("text", "parse", "kinds"),
    [
        ("谢谢", nlu(("thanks", 0.9)), REPLY),
        ("渔港社区的路灯也坏了", STREETLIGHT, OPEN),  # a new report with its place
        ("东门", {}, REPLY),  # two villages called 东门, nothing to tell them apart
    ],
)
def test_more_than_a_place_is_not_taken_for_the_cases_place(
    text: str, parse: dict[str, object], kinds: tuple[str, ...]
) -> None:
    """Only a place on its own completes the case; anything more is read as usual."""
    talk = play([Say(*BURST_PIPE), Say(text, parse, kinds)])
    assert not any(isinstance(e, SetCasePlace) for e in talk.effects[1])


def test_a_place_long_after_the_receipt_is_a_new_matter() -> None:
    """A place on its own 15 minutes after 是: its matter is asked for."""
    talk = play([Say(*BURST_PIPE), Say("是", AFFIRM)])
    later = {"now": NOW + dt.timedelta(minutes=15)}
    play(
        [Say("东澳镇", {}, REPLY, ("describe_at_place",), Stage.DESCRIBE)],
        state=talk.state,
        base=later,
    )


def test_without_a_case_number_the_place_is_read_as_usual() -> None:
    """The shell did not record the case and none matches: no case to give the place to."""
    talk = play([Say(*BURST_PIPE), Say("东澳镇", {}, REPLY)], record_case=False)
    assert not any(isinstance(e, SetCasePlace) for e in talk.effects[1])


def test_the_newest_matching_case_gets_the_place_when_the_shell_did_not_record_it() -> None:
    """Like the correction: the newest open case of the receipt's item."""
    cases = (summary("202611230021", item_code="infra_water", status="new"),)
    talk = play(
        [Say(*BURST_PIPE), Say("东澳镇", {}, PLACE_SET)], base={"cases": cases}, record_case=False
    )
    assert talk.last(SetCasePlace) == SetCasePlace("202611230021", DONGAO)


# --- 3. a self-introduction from idle -------------------------------------------------------


def test_an_introduction_is_remembered_and_the_resident_asked_what_they_need() -> None:
    """我叫王秀英，住在东澳镇渔港社区: name and village kept; no item choices."""
    talk = play(
        [
            Say(
                "我叫王秀英，住在东澳镇渔港社区",
                INTRODUCTION,
                ("update_contact", "reply"),
                ("introduced_with_place",),
                Stage.IDLE,
            ),
        ]
    )
    assert talk.last(UpdateContact) == UpdateContact(name="王秀英", area_id=YUGANG)
    sent = text_of(talk.effects[0])
    assert sent.startswith("王秀英您好") and "东澳镇渔港社区" in sent


def test_after_an_introduction_the_known_village_is_offered() -> None:
    """The shell stores the village; the next report offers it for confirmation."""
    talk = play([Say("我叫王秀英，住在东澳镇渔港社区", INTRODUCTION)])
    play(
        [Say("路灯坏了", STREETLIGHT, REPLY, ("ask_place_known",))],
        state=talk.state,
        base={"contact_name": "王秀英", "area_id": YUGANG},
    )


@pytest.mark.parametrize(
    ("text", "update", "reply"),
    [
        ("我叫王秀英", UpdateContact(name="王秀英"), "introduced"),
        ("您好，我叫王秀英。", UpdateContact(name="王秀英"), "introduced"),
        ("我是东门村的王秀英", UpdateContact(name="王秀英", area_id=21), "introduced_with_place"),
        ("我住在渔港社区", UpdateContact(area_id=YUGANG), "introduced_place"),
        ("我是渔港社区的", UpdateContact(area_id=YUGANG), "introduced_place"),
        (
            "My name is Li Wei, I live in Yugang community",
            UpdateContact(name="Li Wei", area_id=YUGANG),
            "introduced_with_place",
        ),
        ("I live in Xijie", UpdateContact(area_id=XIJIE), "introduced_place"),
    ],
)
def test_introductions(text: str, update: UpdateContact, reply: str) -> None:
    """A name, a home, or both, in either language."""
    talk = play([Say(text, INTRODUCTION, ("update_contact", "reply"), (reply,), Stage.IDLE)])
    assert talk.last(UpdateContact) == update


def test_an_english_introduction_is_answered_in_english_with_pinyin_places() -> None:
    """Hello Li Wei … Yugang Community, Dongao Town: GSM-7 throughout."""
    talk = play([Say("My name is Li Wei, I live in Yugang community", {})])
    sent = text_of(talk.effects[0])
    assert sent.startswith("Hello Li Wei") and "Yugang Community, Dongao Town" in sent
    assert sms_segments(sent) == sms_segments("a" * len(sent))


def test_what_the_shell_knows_already_is_not_updated() -> None:
    """The same name and village again: a greeting, nothing to store."""
    play(
        [Say("我叫王秀英，住在渔港社区", INTRODUCTION, REPLY, ("introduced_with_place",))],
        base={"contact_name": "王秀英", "area_id": YUGANG},
    )


@pytest.mark.parametrize(
    ("text", "parse"),
    [
        ("我叫王秀英，渔港社区的路灯坏了", STREETLIGHT),
        ("我姓王", {}),  # a surname alone does not make a greeting
    ],
)
def test_an_introduction_with_more_in_it_is_read_as_usual(
    text: str, parse: dict[str, object]
) -> None:
    """A name with a report is the report."""
    talk = play([Say(text, parse)])
    assert not any(
        e.text_key.startswith("introduced") for e in talk.effects[0] if isinstance(e, Reply)
    )


def test_a_place_alone_from_idle_asks_what_happened_there() -> None:
    """东澳镇 with nothing pending: what is it? The place is kept for the report."""
    talk = play(
        [
            Say(
                "东澳镇", nlu(("env_garbage", 0.13)), REPLY, ("describe_at_place",), Stage.DESCRIBE
            ),
            Say("路灯坏了", STREETLIGHT, OPEN, ("receipt",)),
        ]
    )
    opened = talk.last(OpenCase)
    assert opened.area_id == DONGAO and opened.description == "东澳镇\n路灯坏了"


# --- 4. places written in pinyin --------------------------------------------------------------


def test_an_english_writers_place_in_pinyin_is_found() -> None:
    """The street light … Yugang community: the case opens there."""
    talk = play(
        [
            Say("The street light outside my house is broken", STREETLIGHT, REPLY, ("ask_place",)),
            Say("Yugang community", {}, OPEN, ("receipt",)),
        ]
    )
    assert talk.last(OpenCase).area_id == YUGANG


def test_a_shared_pinyin_name_is_offered_in_pinyin() -> None:
    """Dongmen is two villages: the choices are written in pinyin, so the SMS stays GSM-7."""
    talk = play(
        [
            Say("The street light in Dongmen is broken", STREETLIGHT, REPLY, ("choose_place",)),
            Say("1", {}, OPEN),
        ]
    )
    sent = text_of(talk.effects[0])
    assert (
        "1 Dongmen Community, Chengguan Town" in sent and "2 Dongmen Village, Dongao Town" in sent
    )
    assert sms_segments(sent) == sms_segments("a" * len(sent))
    assert talk.last(OpenCase).area_id == DONGMEN_SHEQU


def test_an_english_town_is_named_in_pinyin() -> None:
    """A town matter in Chengguan town opens there."""
    talk = play([Say("The street light in Chengguan town is broken", STREETLIGHT, OPEN)])
    assert talk.last(OpenCase).area_id == CHENGGUAN


def test_english_proxy_details_with_a_pinyin_village() -> None:
    """Li Wei, Xijie: the name and the village, neither taken for the other."""
    talk = play(
        [
            Say("I want to apply for the minimum living allowance", PENSION_QUESTION),
            Say("1", {}, REPLY, ("ask_details",)),
            Say("Xijie community, Li Wei", {}, ("open_case", "update_contact", "reply")),
        ]
    )
    assert talk.last(UpdateContact) == UpdateContact(name="Li Wei", area_id=XIJIE)


# --- 0 after 是: the correction window ------------------------------------------------------


def test_0_after_a_yes_to_the_receipt_still_corrects_the_case() -> None:
    """Receipt → 是 → 0: the runners-up, and the choice reclassifies the case."""
    play(
        [
            Say("西街社区路上有个坑", UNSURE_ROAD),
            Say("1", {}, OPEN, ("receipt",)),
            Say("是", AFFIRM, REPLY, ("acknowledge",), Stage.IDLE),
            Say("0", DENY, REPLY, ("correction_choose",), Stage.CHOOSE_CORRECTION),
            Say("1", {}, ("reclassify_case", "reply"), ("reclassified",)),
        ]
    )


@pytest.mark.parametrize(
    ("between", "parse"), [("谢谢", nlu(("thanks", 0.9))), ("好的", AFFIRM), ("？？", {})]
)
def test_budui_after_a_word_in_between_still_corrects(
    between: str, parse: dict[str, object]
) -> None:
    """不对 after 谢谢 / 好的 / a puzzled reply: still the correction."""
    play(
        [
            Say("西街社区路灯坏了", STREETLIGHT),
            Say(between, parse),
            Say("不对，是水管漏水", nlu(("infra_water", 0.8)), ("reclassify_case", "reply")),
        ]
    )


def test_the_window_after_a_yes_closes_after_a_few_minutes() -> None:
    """0 fifteen minutes after 是: no correction."""
    talk = play([Say("西街社区路灯坏了", STREETLIGHT), Say("是", AFFIRM)])
    later = {"now": NOW + dt.timedelta(minutes=15)}
    play([Say("0", {}, REPLY, ("help_menu",))], state=talk.state, base=later)


def test_a_new_request_closes_the_correction_window() -> None:
    """A question answered and declined in between: 0 no longer corrects the old case."""
    play(
        [
            Say("西街社区路灯坏了", STREETLIGHT),
            Say("低保要带什么材料？", PENSION_QUESTION, REPLY, ("faq_answer_named",)),
            Say("不用了", {}, REPLY, ("anything_else",)),
            Say("0", {}, REPLY, ("help_menu",)),
        ]
    )
