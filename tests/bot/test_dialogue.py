"""The dialogue's flows as tables of turns: resident says → expected effects and replies."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.dialogue import Event, Inbound, Stage, step, words
from bot.dialogue.machine import TRANSITIONS, handler_for
from bot.dialogue.state import DialogueState
from bot.dialogue.words import compact
from bot.effects import (
    AFTER_OPEN_CASE,
    AFTER_RECLASSIFY_CASE,
    HandOff,
    OpenCase,
    ReclassifyCase,
    RecordRating,
    Reply,
    UpdateContact,
)
from bot.texts import fits_sms
from tests.bot.test_dialogue_fixtures import (
    CASE_NUMBER,
    CHENGGUAN,
    DONGMEN_CUN,
    DONGMEN_SHEQU,
    NOW,
    PENSION_QUESTION,
    STAGE_PATHS,
    STREETLIGHT,
    UNSURE_ROAD,
    VAGUE,
    XIJIE,
    YUGANG,
    Say,
    context,
    nlu,
    play,
    reach,
    summary,
    text_of,
)

OPEN = ("open_case", "reply")
REPLY = ("reply",)
AFFIRM = nlu(("affirm", 0.95))
DENY = nlu(("deny", 0.93))
OUT_OF_SCOPE = nlu(("out_of_scope", 0.9))


# --- reporting a concern ---------------------------------------------------------------------


def test_a_clear_report_with_its_place_opens_a_case_at_once() -> None:
    """One message with a confident item and a village: the case opens and the receipt follows."""
    talk = play(
        [Say("东门社区路口的路灯坏了", STREETLIGHT, OPEN, ("receipt",), Stage.AFTER_RECEIPT)]
    )
    opened = talk.last(OpenCase)
    assert opened == OpenCase(
        item_code="infra_streetlight",
        description="东门社区路口的路灯坏了",
        area_id=DONGMEN_SHEQU,
        confidence=0.91,
        urgent=False,
        name=None,
        for_proxy_agent=False,
    )
    receipt = talk.last(Reply)
    assert receipt.after == AFTER_OPEN_CASE
    text = text_of(talk.effects[0])
    assert CASE_NUMBER in text and "11月30日17:30" in text and "回复0更正" in text


def test_on_the_hotline_even_a_confident_reading_is_confirmed_first() -> None:
    """A speech transcript may be misheard: the caller confirms the matter, then it opens."""
    talk = play(
        [
            Say(
                "东门社区路口的路灯坏了", STREETLIGHT, REPLY, ("confirm_item",), Stage.CONFIRM_ITEM
            ),
            Say("1", AFFIRM, OPEN, ("receipt",), Stage.AFTER_RECEIPT),
        ],
        channel="voice",
    )
    opened = talk.last(OpenCase)
    assert opened.item_code == "infra_streetlight" and opened.area_id == DONGMEN_SHEQU


@pytest.mark.parametrize(
    "turns",
    [
        pytest.param(
            [
                Say("路灯坏了好几天了", STREETLIGHT, REPLY, ("ask_place",), Stage.ASK_PLACE),
                Say("在西街社区菜市场门口", {}, OPEN, ("receipt",), Stage.AFTER_RECEIPT),
            ],
            id="asks-where",
        ),
        pytest.param(
            [
                Say("路上有个大坑", UNSURE_ROAD, REPLY, ("confirm_item",), Stage.CONFIRM_ITEM),
                Say("是的", AFFIRM, REPLY, ("ask_place",), Stage.ASK_PLACE),
                Say("西街社区", {}, OPEN, ("receipt",)),
            ],
            id="confirms-an-unsure-item",
        ),
        pytest.param(
            [
                Say("路上有个大坑", UNSURE_ROAD, REPLY, ("confirm_item",)),
                Say("1", {}, REPLY, ("ask_place",)),
                Say("西街社区", {}, OPEN, ("receipt",)),
            ],
            id="confirms-with-1",
        ),
        pytest.param(
            [
                Say("这里有问题", VAGUE, REPLY, ("choose_item",), Stage.CHOOSE_ITEM),
                Say("①", {}, REPLY, ("ask_place",)),
                Say("西街社区", {}, OPEN, ("receipt",)),
            ],
            id="circled-digit",
        ),
        pytest.param(
            [
                Say("这里有问题", VAGUE, REPLY, ("choose_item",)),
                Say("第二个", {}, REPLY, ("ask_place",)),
                Say("西街社区", {}, OPEN, ("receipt",)),
            ],
            id="ordinal",
        ),
        pytest.param(
            [
                Say("这里有问题", VAGUE, REPLY, ("choose_item",)),
                Say("二", {}, REPLY, ("ask_place",)),
                Say("西街社区", {}, OPEN, ("receipt",)),
            ],
            id="chinese-numeral",
        ),
        pytest.param(
            [
                Say("这里有问题", VAGUE, REPLY, ("choose_item",)),
                Say("污染", {}, REPLY, ("ask_place",)),
                Say("西街社区", {}, OPEN, ("receipt",)),
            ],
            id="item-name",
        ),
    ],
)
def test_reports_reach_a_receipt(turns: list[Say]) -> None:
    """Every way of settling item and place ends in one OpenCase and a receipt."""
    talk = play(turns)
    assert talk.last(OpenCase).area_id == XIJIE


def test_a_numbered_choice_opens_the_chosen_item_as_certain() -> None:
    """The resident's choice is the item, with confidence 1.0, the others kept for correction."""
    talk = play(
        [
            Say("这里有问题", VAGUE),
            Say("2", {}),
            Say("西街社区", {}),
        ]
    )
    opened = talk.last(OpenCase)
    assert (opened.item_code, opened.confidence) == ("env_pollution", 1.0)
    assert opened.description == "这里有问题\n西街社区"


def test_a_denied_confirmation_offers_the_runners_up() -> None:
    """不是 to the confirmation lists the other candidates as numbered choices."""
    talk = play(
        [
            Say("路上有个大坑", UNSURE_ROAD, REPLY, ("confirm_item",)),
            Say("不是", DENY, REPLY, ("choose_item",), Stage.CHOOSE_ITEM),
            Say("1", {}, REPLY, ("ask_place",)),
        ]
    )
    assert talk.state.draft.item_code == "infra_streetlight"
    assert "1 路灯不亮" in text_of(talk.effects[1])


def test_none_of_these_asks_again_then_a_new_description_is_understood() -> None:
    """都不是 → describe again → the new words are classified, with all turns kept."""
    talk = play(
        [
            Say("这里有问题", VAGUE, REPLY, ("choose_item",)),
            Say("都不是", {}, REPLY, ("describe_again",), Stage.DESCRIBE),
            Say("村里的水管破了一直在漏水", nlu(("infra_water", 0.85)), REPLY, ("ask_place",)),
            Say("渔港社区", {}, OPEN, ("receipt",)),
        ]
    )
    opened = talk.last(OpenCase)
    assert opened.item_code == "infra_water"
    assert opened.description == "这里有问题\n村里的水管破了一直在漏水\n渔港社区"


def test_none_of_these_after_several_descriptions_hands_off() -> None:
    """A matter still unclear after a few rounds goes to a person, never round again."""
    play(
        [
            Say("这里有问题", VAGUE),
            Say("都不是"),
            Say("就是有问题", VAGUE, REPLY, ("choose_item",)),
            Say("0", {}, ("hand_off", "reply"), ("hand_off_open",), Stage.IDLE),
        ]
    )


@pytest.mark.parametrize(
    ("stage_turns", "give_up"),
    [
        ([Say("路上有个大坑", UNSURE_ROAD)], ("hand_off", "reply")),
        ([Say("这里有问题", VAGUE)], ("hand_off", "reply")),
        ([Say("随便说说", OUT_OF_SCOPE), Say("1")], ("hand_off", "reply")),
        ([Say("路灯坏了", STREETLIGHT)], OPEN),
        ([Say("我想申请低保", PENSION_QUESTION)], REPLY),
        ([Say("我想申请低保", PENSION_QUESTION), Say("1")], OPEN),
    ],
    ids=["confirm", "choose", "describe", "place", "offer", "details"],
)
def test_two_failed_answers_never_end_in_a_dead_end(
    stage_turns: list[Say], give_up: tuple[str, ...]
) -> None:
    """A re-prompt first; the second failure hands off, opens the case, or closes the offer."""
    turns = [*stage_turns, Say("啊？", {}, REPLY), Say("嗯嗯啊啊", {}, give_up)]
    talk = play(turns)
    assert talk.state.stage in {Stage.IDLE, Stage.AFTER_RECEIPT}


def test_a_place_several_villages_share_is_offered_as_choices() -> None:
    """东门 is 城关镇东门社区 or 东澳镇东门村: the resident picks by number."""
    talk = play(
        [
            Say("东门的路灯坏了", STREETLIGHT, REPLY, ("choose_place",), Stage.CHOOSE_PLACE),
            Say("2", {}, OPEN, ("receipt",)),
        ]
    )
    assert talk.last(OpenCase).area_id == DONGMEN_CUN
    listed = text_of(talk.effects[0])
    assert "1 城关镇东门社区" in listed and "2 东澳镇东门村" in listed


def test_the_residents_own_town_settles_a_shared_place_name() -> None:
    """A resident of 城关镇 who says 东门 means 东门社区, without a question."""
    talk = play([Say("东门的路灯坏了", STREETLIGHT, OPEN)], base={"area_id": XIJIE})
    assert talk.last(OpenCase).area_id == DONGMEN_SHEQU


def test_the_residents_known_village_is_offered_for_confirmation() -> None:
    """是在西街社区吗? — 1 takes the known village."""
    talk = play(
        [
            Say("路灯坏了", STREETLIGHT, REPLY, ("ask_place_known",)),
            Say("1", {}, OPEN, ("receipt",)),
        ],
        base={"area_id": XIJIE},
    )
    assert talk.last(OpenCase).area_id == XIJIE


def test_a_place_not_found_is_asked_again_then_the_case_opens_without_it() -> None:
    """Two answers without a known place: the case opens anyway, the words kept."""
    talk = play(
        [
            Say("路灯坏了", STREETLIGHT, REPLY, ("ask_place",)),
            Say("就在大樟树旁边", {}, REPLY, ("ask_place_again",), Stage.ASK_PLACE),
            Say("学校对面", {}, OPEN, ("receipt",)),
        ]
    )
    opened = talk.last(OpenCase)
    assert opened.area_id is None
    assert opened.description == "路灯坏了\n就在大樟树旁边\n学校对面"


@pytest.mark.parametrize("text", ["跳过", "不知道"])
def test_skip_with_nothing_pending_is_no_report(text: str) -> None:
    """A bare 跳过 after everything is done is acknowledged, not read as a matter (before: the
    classifier's guess was confirmed as 「道路桥梁破损」 and the word joined the next case)."""
    road = nlu(("infra_road", 0.45))
    talk = play([Say(text, road, REPLY, ("acknowledge",), Stage.IDLE)])
    assert talk.state.draft.description == ()


def test_skip_opens_the_case_without_a_place() -> None:
    """跳过 when asked where: open now, staff will ask."""
    talk = play([Say("路灯坏了", STREETLIGHT), Say("跳过", {}, OPEN, ("receipt",))])
    assert talk.last(OpenCase).area_id is None


def test_a_new_matter_while_asked_where_drops_neither() -> None:
    """Asked where, the resident writes about something else: the first matter opens without a
    place (staff will ask) and the new one is taken up at once, its words its own.

    Before, the new message was read as a failed place answer: after two of them it was filed
    into the first case's description and never became a case of its own.
    """
    boundary = nlu(("dispute_land_boundary", 0.9))
    streetlight = nlu(("infra_streetlight", 0.93))
    talk = play(
        [
            Say("邻居把界桩挪到我家地里了", boundary, REPLY, ("ask_place",), Stage.ASK_PLACE),
            Say(
                "还有学校门口的路灯坏了一个星期了",
                streetlight,
                ("open_case", "reply", "reply"),
                ("receipt_before_next", "ask_place"),
                Stage.ASK_PLACE,
            ),
            Say("西街社区", {}, OPEN, ("receipt",), Stage.AFTER_RECEIPT),
        ]
    )
    first = talk.effects[1][0]
    assert isinstance(first, OpenCase)
    assert (first.item_code, first.area_id) == ("dispute_land_boundary", None)
    assert first.description == "邻居把界桩挪到我家地里了"
    second = talk.last(OpenCase)
    assert (second.item_code, second.area_id) == ("infra_streetlight", XIJIE)
    assert second.description == "还有学校门口的路灯坏了一个星期了\n西街社区"
    assert "回复0" not in text_of(talk.effects[1][:2])
    assert talk.state.last_case is not None and talk.state.last_case.item_code == (
        "infra_streetlight"
    )


@pytest.mark.parametrize(
    ("text", "parse"),
    [
        ("学校门口", nlu(("education_enrollment", 0.95))),  # a place in words, however sure
        ("就在我家地边上那条沟旁边呢", nlu(("infra_road", 0.6))),  # long, but not sure
    ],
)
def test_a_place_in_words_is_not_a_new_matter(text: str, parse: dict[str, object]) -> None:
    """Short or unsure answers to "where?" stay answers: asked again, the words kept."""
    boundary = nlu(("dispute_land_boundary", 0.9))
    talk = play(
        [
            Say("邻居把界桩挪到我家地里了", boundary, REPLY, ("ask_place",)),
            Say(text, parse, REPLY, ("ask_place_again",), Stage.ASK_PLACE),
        ]
    )
    assert text in talk.state.draft.description


def test_a_village_matter_named_by_town_asks_for_the_village() -> None:
    """邻里纠纷 is handled by the village: a town alone is asked to narrow down."""
    dispute = nlu(("dispute_neighbor", 0.9))
    talk = play(
        [
            Say("城关镇有邻居占我家地", dispute, REPLY, ("ask_village_in_town",)),
            Say("西街社区", {}, OPEN, ("receipt",)),
        ]
    )
    assert talk.last(OpenCase).area_id == XIJIE
    assert "西街社区" in text_of(talk.effects[1])


def test_a_town_matter_named_by_town_opens_at_once() -> None:
    """A street light reported with its town only is routed to the town; no more questions."""
    talk = play([Say("城关镇的路灯坏了", STREETLIGHT, OPEN)])
    assert talk.last(OpenCase).area_id == CHENGGUAN


# --- proxy services (便民代办) ---------------------------------------------------------------


def test_a_proxy_request_gives_materials_fees_and_time_then_opens_for_the_agent() -> None:
    """低保: materials, fees and limit; 1; name and village; a case for that village's agent."""
    talk = play(
        [
            Say(
                "我想申请低保",
                PENSION_QUESTION,
                ("reply", "reply", "reply"),
                ("service_materials", "service_terms", "offer_proxy"),
                Stage.OFFER_PROXY,
            ),
            Say("1", {}, REPLY, ("ask_details",), Stage.ASK_DETAILS),
            Say(
                "张三，东门村",
                {},
                ("open_case", "update_contact", "reply"),
                ("receipt_proxy",),
                Stage.AFTER_RECEIPT,
            ),
        ]
    )
    opened = talk.last(OpenCase)
    assert (opened.item_code, opened.for_proxy_agent) == ("social_minimum_living", True)
    assert (opened.name, opened.area_id) == ("张三", DONGMEN_CUN)
    assert talk.last(UpdateContact) == UpdateContact(name="张三", area_id=DONGMEN_CUN)
    info = text_of(talk.effects[0])
    assert "免费" in info and "30个工作日内" in info
    assert "张三" in text_of(talk.effects[2]) and "东门村代办员" in text_of(talk.effects[2])


@pytest.mark.parametrize("text", ["我想申请低保，帮我代办", "帮我代办低保", "低保可以找人代办吗"])
def test_a_resident_who_asked_for_the_proxy_service_is_not_asked_again(text: str) -> None:
    """…帮我代办: the information, then straight to name and village. Before, the bot still
    asked "需要村代办员帮您代办吗？"."""
    talk = play(
        [
            Say(
                text,
                PENSION_QUESTION,
                ("reply", "reply", "reply"),
                ("service_materials", "service_terms", "ask_details"),
                Stage.ASK_DETAILS,
            ),
            Say("张三，东门村", {}, ("open_case", "update_contact", "reply")),
        ]
    )
    assert talk.last(OpenCase).for_proxy_agent


@pytest.mark.parametrize("text", ["我想申请低保，不用代办", "低保我自己办，要带什么"])
def test_not_wanting_the_proxy_service_still_gets_the_offer(text: str) -> None:
    """不用代办 / 自己办 is not a request for the proxy agent."""
    assert not words.wants_proxy(compact(text))


def test_a_known_resident_is_not_asked_for_name_and_village() -> None:
    """The shell knows the name and village: 1 opens the proxy case at once."""
    talk = play(
        [Say("我想申请低保", PENSION_QUESTION), Say("要", {}, OPEN, ("receipt_proxy",))],
        base={"contact_name": "李四", "area_id": YUGANG},
    )
    opened = talk.last(OpenCase)
    assert (opened.name, opened.area_id, opened.for_proxy_agent) == ("李四", YUGANG, True)


def test_a_name_alone_is_followed_by_the_village_question() -> None:
    """我叫李四 → which village? → 渔港社区 → the case."""
    talk = play(
        [
            Say("我想申请低保", PENSION_QUESTION),
            Say("1", {}),
            Say("我叫李四", {}, REPLY, ("ask_village",), Stage.ASK_DETAILS),
            Say("渔港社区", {}, ("open_case", "update_contact", "reply")),
        ]
    )
    assert (talk.last(OpenCase).name, talk.last(OpenCase).area_id) == ("李四", YUGANG)


def test_a_bare_name_is_read_when_only_the_name_is_missing() -> None:
    """The village is known; the reply 王芳 is her name."""
    talk = play(
        [
            Say("我想申请低保", PENSION_QUESTION),
            Say("1", {}, REPLY, ("ask_name",)),
            Say("王芳", {}, ("open_case", "update_contact", "reply")),
        ],
        base={"area_id": DONGMEN_SHEQU},
    )
    assert talk.last(UpdateContact) == UpdateContact(name="王芳", area_id=None)


def test_information_only_opens_nothing() -> None:
    """2 after the service information: no case, a friendly close."""
    talk = play(
        [Say("我想申请低保", PENSION_QUESTION), Say("2", {}, REPLY, ("info_only",), Stage.IDLE)]
    )
    assert not any(isinstance(e, OpenCase) for turn in talk.effects for e in turn)


def test_a_follow_up_question_during_the_offer_is_answered() -> None:
    """要交钱吗? while the offer is pending: the fees answer, then 1 still goes ahead."""
    play(
        [
            Say("我想申请低保", PENSION_QUESTION),
            Say("要交钱吗？", {}, REPLY, ("faq_answer_named",), Stage.AFTER_ANSWER),
            Say("1", {}, REPLY, ("ask_details",)),
        ]
    )


# --- questions about an item ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("低保要带什么材料？", "全家身份证"),
        ("办低保要交钱吗", "不收"),
        ("低保多久能批下来", "工作日"),
    ],
)
def test_questions_are_answered_from_the_faq_without_a_case(text: str, expected: str) -> None:
    """材料 / 费用 / 多久: the catalog's answer and an offer, no case."""
    talk = play([Say(text, PENSION_QUESTION, REPLY, ("faq_answer_named",), Stage.AFTER_ANSWER)])
    answer = text_of(talk.effects[0])
    assert expected in answer and "要代办请回复1" in answer
    assert answer.startswith("「低保与特困供养申请」")  # which matter the answer is about


def test_an_answer_too_long_to_be_named_goes_without_the_name() -> None:
    """The item's name is left out when it would push the answer past two SMS segments."""
    reward = nlu(("fp_reward_support", 0.95))
    talk = play(
        [Say("what papers do I need for the reward payments", reward)], base={"language": "en"}
    )
    keys = [e.text_key for e in talk.effects[0] if isinstance(e, Reply)]
    assert keys == ["faq_answer"]
    assert fits_sms(text_of(talk.effects[0]))


def test_after_an_answer_1_goes_ahead_with_the_proxy_service() -> None:
    """The offer after an answer: 1 asks for name and village, then opens."""
    talk = play(
        [
            Say("低保要带什么材料？", PENSION_QUESTION),
            Say("好的", AFFIRM, REPLY, ("ask_details",)),
            Say("张三 西街社区", {}, ("open_case", "update_contact", "reply")),
        ]
    )
    assert talk.last(OpenCase).for_proxy_agent


def test_after_an_answer_no_thanks_closes_politely() -> None:
    """不用了 after an answer: nothing opened."""
    play(
        [
            Say("低保要带什么材料？", PENSION_QUESTION),
            Say("不用了", {}, REPLY, ("anything_else",), Stage.IDLE),
        ]
    )


def test_a_question_about_a_concern_offers_to_report_it() -> None:
    """路灯坏了一般多久能修好? is answered; 1 then reports it."""
    talk = play(
        [
            Say("路灯坏了一般多久能修好？", STREETLIGHT, REPLY, ("faq_answer_named",)),
            Say("1", {}, REPLY, ("ask_place",)),
            Say("西街社区", {}, OPEN),
        ]
    )
    assert "要反映此事请回复1" in text_of(talk.effects[0])


def test_a_complaint_with_a_time_word_is_a_report_not_a_question() -> None:
    """路灯坏了三天了 is a report: 天 in a statement asks nothing."""
    play([Say("西街社区路灯坏了好几天了没人修", STREETLIGHT, OPEN)])


# --- progress ------------------------------------------------------------------------------


def test_progress_by_case_number() -> None:
    """A known number: item, status, last visible event and due date."""
    talk = play(
        [Say(f"查一下{CASE_NUMBER}", {}, REPLY, ("case_status",))],
        base={"cases": (summary(),)},
    )
    text = text_of(talk.effects[0])
    assert "办理中" in text and "已派电工维修" in text and "11月30日17:30" in text


def test_someone_elses_personal_matter_is_not_told() -> None:
    """A number of another resident's personal service (独生子女证, 低保 …) tells nothing of it;
    another resident's public concern (a street light) still tells its status. Before, anyone
    texting a number learnt that its applicant had applied for 独生子女父母光荣证."""
    theirs = summary(item_code="fp_only_child", mine=False, status_zh="待补办材料")
    talk = play([Say(CASE_NUMBER, {}, REPLY, ("case_not_yours",))], base={"cases": (theirs,)})
    text = text_of(talk.effects[0])
    assert "独生子女" not in text and "待补办" not in text
    public = summary(mine=False, last_event=None)
    play([Say(CASE_NUMBER, {}, REPLY, ("case_status",))], base={"cases": (public,)})


def test_a_merged_case_points_to_the_case_it_lives_on_in() -> None:
    """已合并 is no dead end: the reply names the surviving case's number."""
    merged = summary(status="merged", status_zh="已合并", merged_into="202611230001")
    talk = play([Say(CASE_NUMBER, {}, REPLY, ("case_status",))], base={"cases": (merged,)})
    assert "202611230001" in text_of(talk.effects[0])


def test_progress_by_a_number_written_with_prefix_and_spaces() -> None:
    """ZT-2026 1123 0017 is the same case."""
    play([Say("ZT-2026 1123 0017", {}, REPLY, ("case_status",))], base={"cases": (summary(),)})


def test_an_unknown_case_number_gets_a_defined_reply() -> None:
    """A number the shell found no case for: say so, and how to list one's cases."""
    talk = play([Say("202611239999", {}, REPLY, ("case_unknown",))])
    assert "202611239999" in text_of(talk.effects[0])


def test_my_cases_lists_the_residents_recent_cases_newest_first() -> None:
    """我的案件: up to three lines, newest first."""
    cases = (
        summary("202611010001"),
        summary("202611230017", item_code="env_garbage", status_zh="已受理"),
        summary("202611150002"),
        summary("202610010001"),
    )
    talk = play([Say("我的案件", {}, REPLY, ("my_cases",))], base={"cases": cases})
    lines = text_of(talk.effects[0]).splitlines()
    assert lines[1].startswith("202611230017") and len(lines) == 5


def test_check_status_without_cases() -> None:
    """查进度 with no case on record: ask for the number."""
    play([Say("查进度", nlu(("check_status", 0.9)), REPLY, ("no_cases",))])


def test_a_case_number_while_a_question_is_pending_keeps_the_question() -> None:
    """Asking progress in the middle of a report answers it and keeps the report pending."""
    talk = play(
        [
            Say("路灯坏了", STREETLIGHT),
            Say(CASE_NUMBER, {}, REPLY, ("case_status",), Stage.ASK_PLACE),
            Say("西街社区", {}, OPEN),
        ],
        base={"cases": (summary(),)},
    )
    assert talk.last(OpenCase).item_code == "infra_streetlight"


# --- correcting the item right after a receipt ------------------------------------------


def test_reply_0_after_a_receipt_reclassifies_the_case() -> None:
    """回复0更正: the runners-up are offered; the choice reclassifies the same case."""
    talk = play(
        [
            Say("西街社区路上有个坑", UNSURE_ROAD),
            Say("1", {}),
            Say("0", {}, REPLY, ("correction_choose",), Stage.CHOOSE_CORRECTION),
            Say(
                "1",
                {},
                ("reclassify_case", "reply"),
                ("reclassified",),
                Stage.IDLE,
            ),
        ]
    )
    assert talk.last(ReclassifyCase) == ReclassifyCase(CASE_NUMBER, "infra_streetlight")
    assert talk.last(Reply).after == AFTER_RECLASSIFY_CASE


def test_budui_with_the_right_matter_reclassifies_directly() -> None:
    """不对，是水管漏水: the message names the item; no choice needed."""
    talk = play(
        [
            Say("西街社区路灯坏了", STREETLIGHT),
            Say("不对，是水管漏水", nlu(("infra_water", 0.8)), ("reclassify_case", "reply")),
        ]
    )
    assert talk.last(ReclassifyCase).item_code == "infra_water"


def test_budui_alone_offers_the_choices() -> None:
    """不对 (the deny intent) right after a receipt is a correction."""
    play(
        [
            Say("西街社区路上有个坑", UNSURE_ROAD),
            Say("1", {}),
            Say("不对", DENY, REPLY, ("correction_choose",)),
            Say("路灯", {}, ("reclassify_case", "reply")),
        ]
    )


def test_a_correction_without_alternatives_asks_for_the_matter() -> None:
    """No runners-up: the resident says what it is; a confident item reclassifies."""
    play(
        [
            Say("西街社区路灯坏了", nlu(("infra_streetlight", 0.95))),
            Say("0", {}, REPLY, ("correction_describe",)),
            Say("是垃圾没人清", nlu(("env_garbage", 0.7)), ("reclassify_case", "reply")),
        ]
    )


def test_a_sure_misreading_still_offers_the_runners_up() -> None:
    """回复0 after a confident receipt offers the next items of the ranking however unsure the
    classifier was of them; before, runners-up under 5 % were dropped and 0 only ever asked
    the resident to describe the matter again."""
    sure = nlu(("infra_streetlight", 0.96), ("infra_road", 0.02), ("infra_water", 0.01))
    talk = play(
        [
            Say("我家门前的路坏了，西街社区", sure, OPEN),
            Say("0", {}, REPLY, ("correction_choose",)),
            Say("1", {}, ("reclassify_case", "reply")),
        ]
    )
    assert talk.last(ReclassifyCase).item_code == "infra_road"


def test_the_runners_up_after_a_sure_concern_are_concerns() -> None:
    """A misread street light is offered other concerns, not 党组织关系转接 (a service) that the
    ranking happened to put second."""
    sure = nlu(
        ("infra_streetlight", 0.96),
        ("party_relation_transfer", 0.02),
        ("infra_road", 0.01),
        ("env_garbage", 0.005),
    )
    talk = play(
        [
            Say("我家门前的路坏了，西街社区", sure, OPEN),
            Say("0", {}, REPLY, ("correction_choose",)),
        ]
    )
    assert talk.state.draft.candidates == ("infra_road", "env_garbage")


def test_none_of_the_corrections_hands_off_to_staff() -> None:
    """都不是 during the correction: staff check the item."""
    talk = play(
        [
            Say("西街社区路上有个坑", UNSURE_ROAD),
            Say("1", {}),
            Say("0", {}),
            Say("都不是", {}, ("hand_off", "reply"), ("correction_handoff",)),
        ]
    )
    assert talk.last(HandOff).reason == "misclassified"


def test_a_correction_finds_the_case_when_the_shell_did_not_record_it() -> None:
    """Without `with_case_number`, the newest open case of the item is the one corrected."""
    cases = (summary("202611230020", status="accepted"), summary("202611230003"))
    talk = play(
        [Say("西街社区路灯坏了", STREETLIGHT), Say("不对，是水管漏水", nlu(("infra_water", 0.8)))],
        base={"cases": cases},
        record_case=False,
    )
    assert talk.last(ReclassifyCase).number == "202611230020"


def test_a_correction_with_no_case_to_correct_hands_off() -> None:
    """Neither a recorded number nor a matching case: staff take it."""
    play(
        [Say("西街社区路灯坏了", STREETLIGHT), Say("0", {}, ("hand_off", "reply"))],
        record_case=False,
    )


def test_the_correction_offer_lapses_with_the_next_topic() -> None:
    """After a receipt, anything but 0/不对 is read as a new message."""
    play(
        [
            Say("西街社区路灯坏了", STREETLIGHT),
            Say("谢谢", nlu(("thanks", 0.9)), REPLY, ("thanks_reply",)),
        ]
    )


# --- a person -------------------------------------------------------------------------------


def test_asking_for_a_person_in_office_hours() -> None:
    """人工: a hand-off effect and "someone will reply shortly"."""
    talk = play([Say("转人工", {}, ("hand_off", "reply"), ("hand_off_open",))])
    assert talk.last(HandOff).reason == "requested"


def test_asking_for_a_person_after_hours_says_when() -> None:
    """After hours the reply names the next opening time."""
    opening = dt.datetime(2026, 11, 24, 8, 30, tzinfo=NOW.tzinfo)
    talk = play(
        [Say("我要找人工", {}, ("hand_off", "reply"), ("hand_off_closed",))],
        base={"office_hours_open": False, "next_office_opening": opening},
    )
    assert "11月24日08:30" in text_of(talk.effects[0])


def test_the_human_intent_works_in_the_middle_of_a_flow() -> None:
    """request_human while asked where: hand off, pending request dropped."""
    play(
        [
            Say("路灯坏了", STREETLIGHT),
            Say(
                "我想跟工作人员说",
                nlu(("request_human", 0.9)),
                ("hand_off", "reply"),
                None,
                Stage.IDLE,
            ),
        ]
    )


# --- emergencies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("东门社区着火了！", "safety_fire_hazard"),
        ("楼道里煤气泄漏了", "safety_fire_hazard"),
        ("山上塌方了把路堵了", "infra_road"),
        ("有人受伤了快来", "health_medical_help"),
        ("电线掉下来了", "safety_fire_hazard"),
        ("水管爆了到处是水", "infra_water"),
        ("There is a gas leak in my building", "safety_fire_hazard"),
    ],
)
def test_danger_words_open_an_urgent_case_without_questions(text: str, item: str) -> None:
    """着火, 煤气泄漏, 塌方 …: an urgent case at once, whatever the NLU says."""
    talk = play([Say(text, nlu(("out_of_scope", 0.4)), OPEN, ("receipt_urgent",))])
    opened = talk.last(OpenCase)
    assert opened.urgent and opened.item_code == item


def test_an_urgent_report_keeps_the_nlus_concern_and_the_earlier_words() -> None:
    """Danger words while asked where: the report opens urgent with everything said."""
    talk = play(
        [
            Say("水管破了", nlu(("infra_water", 0.9))),
            Say("渔港社区，水管爆了淹到屋里了", {}, OPEN, ("receipt_urgent",)),
        ]
    )
    opened = talk.last(OpenCase)
    assert (opened.item_code, opened.area_id, opened.urgent) == ("infra_water", YUGANG, True)
    assert opened.description.startswith("水管破了\n")
    assert "119" in text_of(talk.effects[1])


def test_more_danger_words_soon_after_an_emergency_alert_a_person_again() -> None:
    """火越来越大了 right after an urgent receipt: no second case; staff alerted."""
    talk = play(
        [
            Say("东门社区着火了", {}),
            Say("火越来越大了，快来人着火了", {}, ("hand_off", "reply"), ("urgent_follow_up",)),
        ]
    )
    assert talk.last(HandOff).reason == "urgent_follow_up"


def test_an_emergency_while_asked_where_keeps_the_first_matter() -> None:
    """Asked where about rubbish, the resident reports a collapsed bridge: the rubbish case opens
    without a place, then the urgent case with its own words. Before, the emergency took over
    the pending report and the rubbish was never a case."""
    garbage = nlu(("env_garbage", 0.92))
    talk = play(
        [
            Say("垃圾没人清运，臭死了", garbage, REPLY, ("ask_place",)),
            Say(
                "村口的桥塌了，车都过不去了，有人受伤",
                {},
                ("open_case", "reply", "open_case", "reply"),
                ("receipt_before_next", "receipt_urgent"),
            ),
        ]
    )
    first, urgent = (e for e in talk.effects[1] if isinstance(e, OpenCase))
    assert (first.item_code, first.urgent, first.area_id) == ("env_garbage", False, None)
    assert first.description == "垃圾没人清运，臭死了"
    assert urgent.urgent and urgent.item_code != "env_garbage"
    assert urgent.description == "村口的桥塌了，车都过不去了，有人受伤"


def test_danger_about_the_same_matter_while_asked_where_is_one_urgent_case() -> None:
    """消防通道被堵 → where? → now it is burning: the same matter, now one urgent case."""
    fire = nlu(("safety_fire_hazard", 0.9))
    talk = play(
        [
            Say("消防通道被堵死了", fire, REPLY, ("ask_place",)),
            Say("现在着火了，快来人", fire, OPEN, ("receipt_urgent",)),
        ]
    )
    assert [e.urgent for turn in talk.effects for e in turn if isinstance(e, OpenCase)] == [True]


def test_danger_words_after_an_emergency_alert_a_person_even_after_another_case() -> None:
    """An emergency, then an unrelated case (opened with 跳过), then danger words again within
    two hours: still a person, never a second urgent case. Before, the case in between made the
    bot forget the emergency and open a second urgent case."""
    elderly = nlu(("assist_elderly_care", 0.9))
    talk = play(
        [
            Say("村口的桥塌了，有人掉下去受伤了", {}, OPEN),
            Say("又有一个人掉下去了", elderly, REPLY, ("ask_place",)),
            Say("跳过", {}, OPEN, ("receipt",)),
            Say("又有人受伤了，快来人", {}, ("hand_off", "reply"), ("urgent_follow_up",)),
        ]
    )
    assert [e.urgent for turn in talk.effects for e in turn if isinstance(e, OpenCase)] == [
        True,
        False,
    ]
    later = play(
        [Say("又有人受伤了，快来人", {}, OPEN, ("receipt_urgent",))],
        state=talk.state,
        base={"now": NOW + dt.timedelta(hours=3)},
    )
    assert later.last(OpenCase).urgent


# --- opting out and in --------------------------------------------------------------------


@pytest.mark.parametrize("stage", list(STAGE_PATHS))
@pytest.mark.parametrize("word", ["退订", "TD", "STOP", "t", "取消订阅", "回复TD退订"])
def test_opt_out_words_are_honoured_in_every_stage(stage: Stage, word: str) -> None:
    """退订 / TD / STOP before anything else: OptOut, a confirmation, nothing pending."""
    state, base = reach(stage)
    play(
        [Say(word, nlu(("infra_road", 0.99)), ("opt_out", "reply"), ("opted_out",), Stage.IDLE)],
        state=state,
        base=base,
    )


@pytest.mark.parametrize("stage", list(STAGE_PATHS))
def test_an_opted_out_resident_gets_one_hint_then_nothing(stage: Stage) -> None:
    """Opted out: one reply on how to opt back in (with emergency numbers), then silence."""
    state, base = reach(stage)
    talk = play(
        [
            Say("东门社区着火了", {}, REPLY, ("opted_out_hint",)),
            Say("你好", {}, ()),
        ],
        state=state,
        base={**base, "opted_out": True},
    )
    assert "订阅" in text_of(talk.effects[0]) and "119" in text_of(talk.effects[0])


@pytest.mark.parametrize("stage", list(STAGE_PATHS))
@pytest.mark.parametrize("word", ["订阅", "START", "恢复订阅", "yes"])
def test_opting_back_in_from_every_stage(stage: Stage, word: str) -> None:
    """订阅 / START from an opted-out resident, whatever was pending: OptIn and a welcome."""
    state, base = reach(stage)
    play(
        [Say(word, {}, ("opt_in", "reply"), ("opted_in",), Stage.IDLE)],
        state=state,
        base={**base, "opted_out": True},
    )


@pytest.mark.parametrize("word", ["订阅", "恢复订阅", "取消退订", "我要重新订阅短信", "不要退订"])
def test_opting_in_is_never_read_as_opting_out(word: str) -> None:
    """The word the bot itself offers (回复“订阅”) opts back in even when the classifier reads it
    as opt_out, and never opts anyone out. Before, 订阅 and 取消退订 opted the resident out."""
    sure_opt_out = nlu(("opt_out", 0.97))
    play([Say(word, sure_opt_out, ("opt_in", "reply"), ("opted_in",))], base={"opted_out": True})
    talk = play([Say(word, sure_opt_out)])
    assert not any(e.kind == "opt_out" for turn in talk.effects for e in turn)


def test_the_hint_comes_again_after_a_day() -> None:
    """A day later the opted-out resident is reminded once more."""
    talk = play([Say("在吗", {}, REPLY)], base={"opted_out": True})
    later = {"opted_out": True, "now": NOW + dt.timedelta(hours=25)}
    play([Say("在吗", {}, REPLY, ("opted_out_hint",))], state=talk.state, base=later)


# --- survey (回访) ----------------------------------------------------------------------------

SURVEY = {"pending_survey": "202611200003"}


@pytest.mark.parametrize(
    ("text", "score", "reply"),
    [
        ("1", 1, "rating_thanks"),
        ("①", 1, "rating_thanks"),
        ("非常满意", 1, "rating_thanks"),
        ("很满意", 1, "rating_thanks"),
        ("3", 3, "rating_thanks"),
        ("不满意", 4, "rating_sorry"),
        ("5分", 5, "rating_sorry"),
        ("非常不满意！", 5, "rating_sorry"),
    ],
)
def test_survey_answers_are_recorded(text: str, score: int, reply: str) -> None:
    """Digits and words on the 好差评 scale; 4 and 5 get an apology and a re-handling note."""
    talk = play([Say(text, {}, ("record_rating", "reply"), (reply,))], base=SURVEY)
    assert talk.last(RecordRating) == RecordRating("202611200003", score)


def test_an_unclear_survey_answer_is_asked_once_more() -> None:
    """嗯？ is re-asked; 满意 then counts."""
    talk = play(
        [
            Say("嗯？", {}, REPLY, ("survey_reask",), Stage.SURVEY_RETRY),
            Say("满意", {}, ("record_rating", "reply")),
        ],
        base=SURVEY,
    )
    assert talk.last(RecordRating).score == 2


def test_a_survey_answer_unclear_twice_is_dropped() -> None:
    """Two unclear answers: the survey is dropped and never asked again in this conversation."""
    play(
        [
            Say("嗯？", {}, REPLY, ("survey_reask",)),
            Say("啥意思", {}, REPLY, ("help_menu",)),
            Say("哦", {}, REPLY, ("help_menu_again",)),
        ],
        base=SURVEY,
    )


def test_a_clear_new_request_while_a_survey_is_pending_is_handled() -> None:
    """A confident report is not a survey answer: it is reported, the survey stays pending."""
    talk = play([Say("西街社区路灯又坏了", STREETLIGHT, OPEN)], base=SURVEY)
    assert talk.state.dropped_surveys == ()


# --- small talk, the help menu and the unexpected --------------------------------------------


def test_out_of_scope_gets_the_help_menu_and_its_choices_work() -> None:
    """Chit-chat: the menu; 1 asks for the problem; a description then proceeds."""
    play(
        [
            Say("今天天气怎么样", OUT_OF_SCOPE, REPLY, ("help_menu",), Stage.MENU),
            Say("1", {}, REPLY, ("describe_prompt",), Stage.DESCRIBE),
            Say("西街社区路灯坏了", STREETLIGHT, OPEN),
        ]
    )


@pytest.mark.parametrize(
    ("choice", "kinds", "reply"),
    [
        ("2", REPLY, "describe_service_prompt"),
        ("3", REPLY, "no_cases"),
        ("4", ("hand_off", "reply"), "hand_off_open"),
    ],
)
def test_menu_entries(choice: str, kinds: tuple[str, ...], reply: str) -> None:
    """Each entry of the help menu leads somewhere."""
    play([Say("随便说说", OUT_OF_SCOPE), Say(choice, {}, kinds, (reply,))])


def test_a_second_unplaceable_message_gets_the_shorter_menu() -> None:
    """The help menu twice in a row: the second one is shorter and points to a person."""
    play(
        [Say("嗯", OUT_OF_SCOPE, REPLY, ("help_menu",)), Say("哈", {}, REPLY, ("help_menu_again",))]
    )


@pytest.mark.parametrize(
    ("text", "parse", "reply"),
    [
        ("你好", nlu(("greet", 0.95)), "greet"),
        ("hello", {}, "greet"),
        ("谢谢", nlu(("thanks", 0.9)), "thanks_reply"),
        ("好的", nlu(("affirm", 0.9)), "acknowledge"),
        ("", {}, "empty_message"),
        ("\u200b\x00😀", {}, "empty_message"),
    ],
)
def test_small_talk(text: str, parse: dict[str, object], reply: str) -> None:
    """Greetings, thanks, a bare ok and empty messages each have their reply."""
    play([Say(text, parse, REPLY, (reply,))])


def test_an_empty_message_keeps_the_pending_question() -> None:
    """An empty message while asked where: say so; the question stays."""
    play([Say("路灯坏了", STREETLIGHT), Say(" ", {}, REPLY, ("empty_message",), Stage.ASK_PLACE)])


def test_cancelling_drops_the_pending_request() -> None:
    """算了 while asked where: nothing opened, a friendly close."""
    play([Say("路灯坏了", STREETLIGHT), Say("算了", {}, REPLY, ("anything_else",), Stage.IDLE)])


@pytest.mark.parametrize("stage", list(STAGE_PATHS))
def test_every_stage_answers_gibberish(stage: Stage) -> None:
    """Whatever the stage, an unexpected message gets at least one reply."""
    state, base = reach(stage)
    talk = play([Say("？？qwe 🙂 ###", {})], state=state, base=base)
    assert any(isinstance(e, Reply) for e in talk.effects[0])


def test_the_table_has_an_answer_for_every_stage_and_event() -> None:
    """Every (stage, event) pair finds a handler; every stage has its catch-all entry."""
    for stage in Stage:
        assert (stage, "*") in {(s, getattr(e, "value", e)) for s, e in TRANSITIONS}
        for event in Event:
            assert callable(handler_for(stage, event))


# --- language ------------------------------------------------------------------------------


def test_a_resident_writing_english_is_answered_in_english() -> None:
    """English in, English out, through a whole report."""
    talk = play(
        [
            Say("The street light outside my house is broken", STREETLIGHT, REPLY, ("ask_place",)),
            Say("skip", {}, OPEN, ("receipt",)),
        ]
    )
    assert all(e.language == "en" for turn in talk.effects for e in turn if isinstance(e, Reply))
    assert "Case number 202611230017" in text_of(talk.effects[1])


def test_digits_keep_the_conversations_language() -> None:
    """A reply of "1" says nothing about language: the conversation stays in English."""
    talk = play(
        [Say("I want to apply for the minimum living allowance", PENSION_QUESTION), Say("2", {})]
    )
    assert talk.last(Reply).language == "en"


def test_the_context_language_hint_is_used_until_the_resident_writes() -> None:
    """A bare digit from a resident known to write English is answered in English."""
    talk = play([Say("???", {})], base={"language": "en"})
    assert talk.last(Reply).language == "en"


# --- time -------------------------------------------------------------------------------------


def test_a_question_left_for_a_day_is_dropped() -> None:
    """Asked where 25 hours ago: the next message is read afresh."""
    talk = play([Say("路灯坏了", STREETLIGHT)])
    later = {"now": NOW + dt.timedelta(hours=25)}
    play([Say("1", {}, REPLY, ("help_menu",), Stage.MENU)], state=talk.state, base=later)


def test_a_question_answered_within_the_day_still_counts() -> None:
    """Asked where 20 hours ago: the answer still opens the case."""
    talk = play([Say("路灯坏了", STREETLIGHT)])
    later = {"now": NOW + dt.timedelta(hours=20)}
    play([Say("西街社区", {}, OPEN)], state=talk.state, base=later)


def test_the_correction_window_closes() -> None:
    """0 three hours after a receipt is no correction."""
    talk = play([Say("西街社区路灯坏了", STREETLIGHT)])
    later = {"now": NOW + dt.timedelta(hours=3)}
    play([Say("0", {}, REPLY, ("help_menu",))], state=talk.state, base=later)


def test_step_returns_new_values_and_leaves_its_inputs_alone() -> None:
    """The step is pure: the same inputs give the same outputs, the input state unchanged."""
    state = DialogueState()
    message = Inbound("西街社区路灯坏了", "sms", STREETLIGHT)
    first = step(state, message, context())
    second = step(state, message, context())
    assert first == second and state == DialogueState()
