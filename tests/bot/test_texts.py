"""Reply texts: the loader, rendering, and the two-SMS-segment rule for every text."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.dialogue import DialogueState, Inbound, step
from bot.effects import Effect, ParamValue, Reply
from bot.texts import (
    LANGUAGES,
    REPLIES_PATH,
    TextsError,
    fill_case,
    fits_sms,
    load_texts,
    moment_reply,
    render,
    sms_segments,
    split_text,
    texts,
)
from intents.catalog import catalog
from tests.bot.test_dialogue_fixtures import (
    DUE,
    NOW,
    XIJIE,
    context,
    nlu,
    summary,
)

DIALOGUE_DIR = Path(__file__).resolve().parents[2] / "bot" / "dialogue"
# The longest a displayed case number gets: a deployment prefix and a five-digit sequence.
LONG_NUMBER = "ZT2026112310017"


# --- loading ---------------------------------------------------------------------------------


def test_the_project_texts_load_with_both_languages() -> None:
    """Every key of intents/replies.yml has a Chinese and an English text."""
    loaded = load_texts()
    assert loaded.text_keys()
    for key in loaded.text_keys():
        for language in LANGUAGES:
            assert loaded.template(key, language).strip()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("greet: {zh: 你好}\n", "missing text in 'en'"),
        ("greet: hello\n", "expected a mapping of languages"),
        ("greet: {zh: '你好{', en: 'hi'}\n", "greet.zh"),
        ("greet: {zh: '你好{0}', en: 'hi'}\n", "not a plain name"),
        ("greet: {zh: 你好, en: hi, fr: salut}\n", "unknown languages"),
        ("- just a list\n", "expected a mapping of text keys"),
        ("greet: [unclosed\n", "not valid YAML"),
    ],
)
def test_malformed_files_are_refused_with_the_key(
    tmp_path: Path, content: str, message: str
) -> None:
    """A county editor's mistake names the key and the language."""
    path = tmp_path / "replies.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TextsError, match=re.escape(message)):
        load_texts(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    """No file, a clear error."""
    with pytest.raises(TextsError, match="cannot read"):
        load_texts(tmp_path / "nothing.yml")


# --- rendering ------------------------------------------------------------------------------


def test_render_fills_placeholders_with_nested_replies() -> None:
    """A nested reply renders in place; a tuple of replies renders one per line."""
    lines = (Reply("choice_line", {"number": 1, "label": "路灯不亮"}),)
    reply = Reply("choose_item", {"choices": lines})
    assert render(reply, texts()) == "您说的是哪一项？\n1 路灯不亮\n请回复序号，都不是请回复0。"


def test_render_uses_the_reply_language_unless_told_otherwise() -> None:
    """English replies render in English; the argument overrides; unknown falls back to zh."""
    reply = Reply("acknowledge", {}, "en")
    assert render(reply, texts()).startswith("OK.")
    assert render(reply, texts(), "zh").startswith("好的")
    assert render(Reply("acknowledge", {}, "fr"), texts()).startswith("好的")


def test_render_refuses_missing_parameters_and_unknown_keys() -> None:
    """A bug in the dialogue shows up as TextsError, not as a half-filled SMS."""
    with pytest.raises(TextsError, match="item"):
        render(Reply("confirm_item", {}), texts())
    with pytest.raises(TextsError, match="no reply text"):
        render(Reply("no_such_key", {}), texts())


def test_fill_case_completes_a_receipt() -> None:
    """The shell's step after OpenCase: number and deadline in, `after` cleared."""
    reply = Reply("receipt", {"item": "路灯不亮", "unit": "城关镇便民服务中心"}, "zh", "open_case")
    filled = fill_case(reply, number="202611230017", due=DUE)
    assert filled.after is None
    text = render(filled, texts())
    assert "案件号202611230017" in text and "11月30日17:30" in text


def test_a_case_without_deadline_says_so() -> None:
    """No deadline: the due text says a later message will confirm it."""
    reply = fill_case(
        Reply("reclassified", {"item": "x"}, "en", "reclassify_case"), number="1", due=None
    )
    assert "to be confirmed in a later message" in render(reply, texts())


def test_dates_in_english_are_unambiguous() -> None:
    """English dates are ISO-like: 2026-11-30 17:30."""
    assert render(moment_reply(DUE, "en"), texts()) == "2026-11-30 17:30"


# --- SMS segments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # extension characters take two septets
        ("{" * 81, 2),
        ("路" * 70, 1),
        ("路" * 71, 2),
        ("路" * 134, 2),
        ("路" * 135, 3),
        ("a" * 133 + "路", 2),  # one Chinese character makes the whole text UCS-2
        ("", 1),
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    """GSM-7 fits 160 / 153 per part; UCS-2 70 / 67; extension characters count double."""
    assert sms_segments(text) == segments
    assert fits_sms(text) is (segments <= 2)


def test_english_texts_use_only_gsm7_characters() -> None:
    """An English text with one curly quote or Chinese character would cost UCS-2 segments."""
    for key in texts().text_keys():
        template = texts().template(key, "en")
        assert sms_segments(template) == sms_segments("a" * len(template)), key


# --- every text, filled with realistic values, fits in two segments ------------------------

LONGEST_ITEMS = sorted(catalog().items, key=lambda item: -len(item.zh))[:3]
# Realistic values for texts the sweep through the dialogue does not fill with catalog data.
STATIC_PARAMS: dict[str, list[dict[str, ParamValue]]] = {
    "choice_line": [{"number": 3, "label": "城乡居民医保(新农合)参保缴费与报销"}],
    "ask_place_known": [{"place": "城关镇东门社区第一网格"}],
    "ask_village_in_town": [{"place": "东澳镇"}],
    "unit_town": [{"town": "东澳镇"}],
    "time_working_days": [{"days": 30}],
    "time_hours": [{"hours": 24}],
    "case_last_event": [
        {"text": "已派维修人员到现场，预计明天上午修好，请保持电话畅通谢谢配合"[:40]}
    ],
    "case_due": [{"due": moment_reply(DUE, "zh")}],
    "case_unknown": [{"number": LONG_NUMBER}],
    "case_not_yours": [{"number": LONG_NUMBER}],
    "case_merged_into": [{"number": LONG_NUMBER}],
    "case_line": [{"number": LONG_NUMBER, "item": LONGEST_ITEMS[0].zh, "status": "待补办材料"}],
    "rating_sorry": [{"number": LONG_NUMBER}],
    "hand_off_closed": [{"opening": moment_reply(DUE, "zh")}],
    "datetime": [{"year": 2026, "month": 12, "day": 31, "hour": 17, "minute": 30}],
    "introduced": [{"name": "欧阳娜娜"}, {"name": "Ouyang Nana"}],
    # Resident notifications (worker/notify.py); {text} is cut to fit there, except messages.
    "notify_accepted": [{"number": LONG_NUMBER, "item": LONGEST_ITEMS[0].zh}],
    "notify_rejected": [{"number": LONG_NUMBER, "text": "不属于本县受理范围，请向市级部门反映"}],
    "notify_dispatched": [{"number": LONG_NUMBER, "unit": "城关镇综合行政执法队城市管理中队"}],
    "notify_signed": [{"number": LONG_NUMBER, "unit": "城关镇综合行政执法队城市管理中队"}],
    "notify_materials_needed": [
        {"number": LONG_NUMBER, "text": "请补充户口簿复印件和近期一寸照片"}
    ],
    "notify_materials_received": [{"number": LONG_NUMBER}],
    "notify_escalated": [{"number": LONG_NUMBER, "unit": "清溪县住房和城乡建设局"}],
    "notify_extended": [{"number": LONG_NUMBER, "due": moment_reply(DUE, "zh")}],
    "notify_resolved": [{"number": LONG_NUMBER, "text": "路灯已更换，今晚起恢复照明。"}],
    "notify_reopened": [{"number": LONG_NUMBER, "due": moment_reply(DUE, "zh")}],
    "notify_merged": [{"survivor": LONG_NUMBER}],
    "notify_message": [{"number": LONG_NUMBER, "text": "明天上午维修人员到现场，请保持电话畅通。"}],
    "notify_update": [{"number": LONG_NUMBER}],
    "survey_request": [{"number": LONG_NUMBER}],
    "survey_reminder": [{"number": LONG_NUMBER}],
}
LONGEST_EN = sorted(catalog().items, key=lambda item: -len(item.en))[:3]
PLACES = ("城关镇东门社区第一网格", "东澳镇东门村", "青山乡东门村")
# The longest place labels: Chinese, and the pinyin English replies use.
LONG_PLACE = {"zh": "城关镇东门社区第一网格", "en": "Dongmen Community Grid 1, Chengguan Town"}
LONG_NAME = {"zh": "欧阳娜娜", "en": "Ouyang Nana"}
# Texts whose realistic values differ by language.
STATIC_BY_LANGUAGE: dict[str, dict[str, dict[str, ParamValue]]] = {
    "introduced_with_place": {
        lang: {"name": LONG_NAME[lang], "place": LONG_PLACE[lang]} for lang in LANGUAGES
    },
    "introduced_place": {lang: {"place": LONG_PLACE[lang]} for lang in LANGUAGES},
    # An agent's reason, in the resident's language (a long one is cut to fit by worker.notify).
    "notify_merged_reason": {
        "zh": {"survivor": LONG_NUMBER, "text": "同一盏路灯，已派电工"},
        "en": {"survivor": LONG_NUMBER, "text": "same street light, electrician sent"},
    },
    "describe_at_place": {lang: {"place": LONG_PLACE[lang]} for lang in LANGUAGES},
    "case_place_set": {
        lang: {"place": LONG_PLACE[lang], "case_number": LONG_NUMBER} for lang in LANGUAGES
    },
    "choose_place": {
        language: {
            "choices": tuple(
                Reply("choice_line", {"number": n, "label": label}, language)
                for n, label in enumerate(PLACES, 1)
            )
        }
        for language in LANGUAGES
    },
    "correction_choose": {
        language: {
            "choices": tuple(
                Reply("choice_line", {"number": n, "label": getattr(item, language)}, language)
                for n, item in enumerate(LONGEST_EN if language == "en" else LONGEST_ITEMS, 1)
            )
        }
        for language in LANGUAGES
    },
    "reclassified": {
        "zh": {
            "item": LONGEST_ITEMS[0].zh,
            "case_number": LONG_NUMBER,
            "due": moment_reply(DUE, "zh"),
        },
        "en": {
            "item": LONGEST_EN[0].en,
            "case_number": LONG_NUMBER,
            "due": moment_reply(DUE, "en"),
        },
    },
}
# The catalog allows Chinese FAQ answers of up to 120 characters: the answer text must hold one.
LONGEST_CHINESE_ANSWER = Reply(
    "faq_answer", {"answer": "答" * 120, "offer": Reply("offer_after_answer_concern", {})}, "zh"
)


def _reply_keys(reply: Reply) -> Iterator[str]:
    """The key of a reply and of every reply nested in it."""
    yield reply.text_key
    for value in reply.params.values():
        nested = value if isinstance(value, tuple) else (value,)
        for item in nested:
            if isinstance(item, Reply):
                yield from _reply_keys(item)


OPENINGS = {
    "zh": ("西街社区 {name}", "要带什么材料？", "怎么办理？", "费用多少钱？", "多久能好？"),
    "en": (
        "{name}",
        "what documents do I need?",
        "how do I apply?",
        "what does it cost?",
        "how long?",
    ),
}
FOLLOW_UPS = {
    "zh": ("1", "0", "啊？", "2", "欧阳娜娜，渔港社区"),
    "en": ("1", "0", "hmm", "2", "Li Wei"),
}
UNSURE = {"zh": ("有个事", "啊？", "2", "啊？", "0"), "en": ("a problem", "hmm", "2", "hmm", "0")}


ANOTHER_MATTER = {
    "zh": "还有村口那座桥的栏杆断了好几天了，很危险",
    "en": "also the railing of the bridge at the village entrance has been broken for days",
}


def _dialogue_replies() -> Iterator[Reply]:
    """Replies the dialogue itself builds from catalog values: every item, both languages."""
    for item in catalog().items:
        for language in LANGUAGES:
            name = item.en if language == "en" else item.zh
            ranked = nlu((item.code, 0.95))
            unsure = nlu((item.code, 0.5), ("infra_road", 0.2), ("env_garbage", 0.1))
            vague = nlu((item.code, 0.3), ("infra_road", 0.2), ("env_garbage", 0.1))
            base = {"language": language, "area_id": XIJIE if language == "zh" else None}
            for opening in OPENINGS[language]:
                yield from _converse(
                    [opening.format(name=name), *FOLLOW_UPS[language]], ranked, base
                )
            yield from _converse(["着火了"], ranked, base)
            yield from _converse(list(UNSURE[language]), unsure, base)
            yield from _converse(list(UNSURE[language]), vague, base)
            yield from _converse(
                [f"{name}!", "0", "hmm", "hmm"], ranked, {**base, "area_id": XIJIE}
            )
            if item.kind == "concern" and language == "zh":
                yield from _converse([f"东门 {name}", "啊？", "2"], ranked, {})
            if item.kind == "concern":  # asked where, the resident writes of another matter
                other = "infra_water" if item.code == "infra_road" else "infra_road"
                yield from _converse(
                    [name, ANOTHER_MATTER[language]],
                    ranked,
                    {"language": language},
                    later=[nlu((other, 0.95))],
                )
            case = summary(item_code=item.code, last_event="维修人员已到现场" * 10)
            yield from _converse([case.number], {}, {**base, "cases": (case,)})
    longest = tuple(
        summary(f"2026112{index}10017", item_code=item.code, status_zh="待补办材料")
        for index, item in enumerate(LONGEST_ITEMS)
    )
    closed = {"office_hours_open": False, "next_office_opening": NOW}
    for language in LANGUAGES:
        asking = "my cases" if language == "en" else "我的案件"
        yield from _converse([asking], {}, {"cases": longest, "language": language})
        yield from _converse(["转人工"], {}, {**closed, "language": language})


def _converse(
    turns: list[str],
    parse: Mapping[str, Any],
    base: Mapping[str, Any],
    later: Sequence[Mapping[str, Any]] = (),
) -> Iterator[Reply]:
    """Play turns (the first with `parse`, the next ones with `later`'s parses, the rest with
    none), yielding every reply as the shell would send it."""
    state = DialogueState()
    parses = [parse, *later]
    for index, text in enumerate(turns):
        message = Inbound(text, "sms", parses[index] if index < len(parses) else {})
        state, effects = step(state, message, context(**base))
        state = state.with_case_number(LONG_NUMBER)
        yield from _replies(effects)


def _replies(effects: list[Effect]) -> Iterator[Reply]:
    for effect in effects:
        if isinstance(effect, Reply):
            if effect.after is not None:
                effect = fill_case(effect, number=LONG_NUMBER, due=DUE)
            yield effect


def _all_rendered() -> list[tuple[str, str, str]]:
    rendered = []
    for key, samples in STATIC_PARAMS.items():
        for params in samples:
            for language in LANGUAGES:
                reply = Reply(key, params, language)
                rendered.append((key, language, render(reply, texts())))
    rendered.append(("faq_answer", "zh", render(LONGEST_CHINESE_ANSWER, texts())))
    for key, by_language in STATIC_BY_LANGUAGE.items():
        for language, params in by_language.items():
            rendered.append((key, language, render(Reply(key, params, language), texts())))
    for key in texts().text_keys():
        if not texts().placeholders(key, "zh") | texts().placeholders(key, "en"):
            for language in LANGUAGES:
                rendered.append((key, language, render(Reply(key, {}, language), texts())))
    for reply in _dialogue_replies():
        for key in _reply_keys(reply):
            rendered.append((key, reply.language, ""))
        rendered.append((reply.text_key, reply.language, render(reply, texts())))
    return rendered


RENDERED = _all_rendered()
CATALOG_SUMMARIES = {item.summary.get(lang) for item in catalog().items for lang in LANGUAGES}


def test_every_text_is_checked_with_realistic_values() -> None:
    """The sweep below renders every key of the file in both languages."""
    seen = {(key, language) for key, language, _ in RENDERED}
    missing = [
        (k, lang) for k in texts().text_keys() for lang in LANGUAGES if (k, lang) not in seen
    ]
    assert not missing, missing


def test_every_text_fits_in_two_sms_segments() -> None:
    """134 characters with any Chinese, 306 GSM-7 characters otherwise, placeholders filled."""
    # The one exception: a catalog summary sent on its own (item_summary) that is longer than
    # two segments by itself; no template can shorten it (docs/dialogue.md).
    too_long = sorted(
        {
            (key, language, sms_segments(text), text)
            for key, language, text in RENDERED
            if not fits_sms(text) and not (key == "item_summary" and text in CATALOG_SUMMARIES)
        }
    )
    assert not too_long, "\n".join(f"{k}/{lang}: {n} segments: {t!r}" for k, lang, n, t in too_long)


def test_every_key_the_dialogue_uses_exists() -> None:
    """Each text key named in bot/dialogue has its text."""
    source = "\n".join(path.read_text(encoding="utf-8") for path in DIALOGUE_DIR.glob("*.py"))
    used = set(re.findall(r"""(?:reply|Reply)\(\s*"([a-z_]+)\"""", source))
    used |= set(re.findall(r"""\breceipt(?:: str)?\s*=\s*"([a-z_]+)\"""", source))
    for line in re.findall(r"key = (.+)", source):
        for found in re.findall(r'^"([a-z_]+)"|else "([a-z_]+)"', line):
            used |= set(found) - {""}
    assert {"receipt", "rating_sorry", "help_menu_again", "offer_after_answer_service"} <= used
    assert "receipt_before_next" in used
    assert used <= set(texts().text_keys()), used - set(texts().text_keys())


def test_the_file_is_the_default_path() -> None:
    """texts() reads intents/replies.yml."""
    assert REPLIES_PATH.name == "replies.yml" and REPLIES_PATH.parent.name == "intents"
    assert texts().text_keys() == load_texts(REPLIES_PATH).text_keys()


def test_moment_reply_without_a_time() -> None:
    """No moment: the due_unknown text."""
    assert moment_reply(None, "zh").text_key == "due_unknown"
    moment = dt.datetime(2026, 1, 2, 3, 4, tzinfo=NOW.tzinfo)
    assert render(moment_reply(moment, "zh"), texts()) == "1月2日03:04"


# --- splitting long texts ----------------------------------------------------------------------


def _utf8(text: str) -> int:
    return len(text.encode())


def test_a_short_text_is_one_part() -> None:
    assert split_text("  路灯不亮。 ", 10) == ["路灯不亮。"]
    assert split_text("", 10) == []


def test_long_texts_are_cut_after_sentences_not_inside_them() -> None:
    sentence = "您反映的东澳镇渔港村路灯不亮的问题已交办。"
    parts = split_text(sentence * 5, 50)
    assert parts == [sentence * 2, sentence * 2, sentence]
    english = "Your case was sent to the town office. It is due on 1 December. Reply 0 to fix it."
    assert split_text(english, 45) == [
        "Your case was sent to the town office.",
        "It is due on 1 December. Reply 0 to fix it.",
    ]


def test_closing_quotes_stay_with_their_sentence() -> None:
    parts = split_text("他说：“路灯坏了。”然后就走了，没有再说别的。", 12)
    assert parts[0].endswith("”")
    assert "".join(parts) == "他说：“路灯坏了。”然后就走了，没有再说别的。"


def test_a_sentence_longer_than_a_part_is_cut_after_a_clause_then_hard() -> None:
    text = "一二三四五，六七八九十，" + "甲" * 25
    parts = split_text(text, 10)
    assert parts[:2] == ["一二三四五，六七八九十，"[:6], "六七八九十，"]
    assert all(len(part) <= 10 for part in parts)
    assert "".join(parts) == text


def test_a_byte_limit_never_cuts_a_character_in_two() -> None:
    parts = split_text("我" * 30, 40, _utf8)
    assert [len(p) for p in parts] == [13, 13, 4]
    assert all(_utf8(part) <= 40 for part in parts)


def test_a_limit_below_one_character_is_refused() -> None:
    with pytest.raises(ValueError):
        split_text("路灯不亮了很久了", 2)


@given(st.text(alphabet="路灯不亮。，！？ab .\n”", max_size=400), st.integers(4, 80))
def test_splitting_loses_and_reorders_nothing(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(len(part) <= limit for part in parts)
    assert all(part == part.strip() and part for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())
