"""The dialogue state as the shell stores it: JSON round trips and tolerance of bad rows."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from bot.dialogue import DialogueState, Inbound, Stage, step
from bot.dialogue.state import STATE_VERSION, Draft, LastCase
from tests.bot.test_dialogue_fixtures import NOW, STAGE_PATHS, STREETLIGHT, context, reach

FULL = DialogueState(
    stage=Stage.CHOOSE_PLACE,
    language="en",
    updated_at=NOW,
    tries=1,
    draft=Draft(
        item_code="infra_streetlight",
        confidence=0.91,
        candidates=("infra_streetlight", "infra_road"),
        alternatives=("infra_road",),
        topic="time",
        area_id=10,
        area_options=(11, 21),
        suggested_area_id=12,
        description=("东门的路灯坏了", "就在路口"),
        name="张三",
        for_proxy=True,
    ),
    last_case=LastCase(
        "202611230017",
        "env_garbage",
        ("env_pollution",),
        NOW,
        urgent=True,
        area_id=22,
        correctable=False,
    ),
    survey_retry="202611200003",
    dropped_surveys=("202611010001",),
    opted_out_hint_at=NOW - dt.timedelta(hours=3),
)


def test_every_field_survives_a_json_round_trip() -> None:
    """to_dict → JSON text → from_dict gives the same state back."""
    stored = json.loads(json.dumps(FULL.to_dict(), ensure_ascii=False))
    assert DialogueState.from_dict(stored) == FULL


@pytest.mark.parametrize("stage", list(STAGE_PATHS))
def test_states_reached_by_conversations_round_trip(stage: Stage) -> None:
    """The state of each stage, as conversations leave it, reads back equal."""
    state, _ = reach(stage)
    assert DialogueState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_the_idle_state_is_the_default() -> None:
    """A new conversation and an empty row are the idle state."""
    assert DialogueState.from_dict({}) == DialogueState()
    assert DialogueState().stage is Stage.IDLE


def test_unknown_keys_are_ignored() -> None:
    """Keys a newer version added do not stop an older one reading the state."""
    data = FULL.to_dict() | {"mood": "cheerful"}
    data["draft"] = data["draft"] | {"colour": "blue"}
    assert DialogueState.from_dict(data) == FULL


def test_missing_keys_take_their_defaults() -> None:
    """A state written before a field existed reads with that field's default."""
    data = FULL.to_dict()
    del data["dropped_surveys"], data["draft"]["topic"]
    read = DialogueState.from_dict(data)
    assert read.dropped_surveys == () and read.draft.topic is None
    assert read.draft.item_code == "infra_streetlight"


GARBAGE: list[Any] = [
    None,
    "idle",
    42,
    [],
    {"version": 0, "stage": "ask_place"},
    {"version": "1"},
    {"stage": "no_such_stage"},
    {"stage": 3},
    {"stage": "ask_place", "updated_at": "yesterday"},
    {"stage": "ask_place", "updated_at": "2026-11-23T10:00:00"},  # naive
    {"tries": "two"},
    {"tries": True},
    {"draft": "streetlight"},
    {"draft": {"candidates": "infra_road"}},
    {"draft": {"candidates": [1, 2]}},
    {"draft": {"confidence": 7}},
    {"draft": {"confidence": float("nan")}},
    {"draft": {"area_id": "11"}},
    {"draft": {"for_proxy": "yes"}},
    {"last_case": {"number": "1"}},
    {"last_case": {"item_code": "infra_road", "opened_at": 1700000000}},
    {"dropped_surveys": {"a": 1}},
    {"language": 5},
]


@pytest.mark.parametrize("data", GARBAGE)
def test_a_damaged_or_foreign_state_reads_as_idle(data: Any) -> None:
    """Wrong types, unknown stages, naive times, other versions: the idle state, no error."""
    assert DialogueState.from_dict(data) == DialogueState()


def test_an_unknown_language_is_forgotten_not_fatal() -> None:
    """A language the texts do not have reads as "not known yet"."""
    assert DialogueState.from_dict({"language": "fr"}).language is None


@pytest.mark.parametrize(
    "data",
    [
        {"version": STATE_VERSION, "stage": "choose_item", "draft": {"candidates": ["gone"]}},
        {"stage": "ask_place", "draft": {"item_code": "retired_item"}},
        {"stage": "choose_place", "draft": {"item_code": "infra_road", "area_options": [999]}},
        {"stage": "after_receipt"},
        {"stage": "choose_correction", "last_case": None},
        {"stage": "survey_retry"},
    ],
)
def test_a_state_that_no_longer_fits_the_catalog_or_county_is_read_afresh(
    data: dict[str, Any],
) -> None:
    """Item codes or areas that vanished, or a stage without what it needs: read as idle."""
    state = DialogueState.from_dict(data)
    _, effects = step(state, Inbound("西街社区路灯坏了", "sms", STREETLIGHT), context())
    assert [e.kind for e in effects] == ["open_case", "reply"]


def test_the_shell_records_the_opened_case_number() -> None:
    """with_case_number fills the last case's number once, and only when there is one."""
    state = DialogueState(last_case=LastCase(None, "infra_road", (), NOW))
    recorded = state.with_case_number("202611230017")
    assert recorded.last_case is not None and recorded.last_case.number == "202611230017"
    assert recorded.with_case_number("202611230099") == recorded
    assert DialogueState().with_case_number("202611230017") == DialogueState()


def test_long_descriptions_are_bounded() -> None:
    """The stored description keeps the latest turns only."""
    draft = Draft()
    for index in range(40):
        draft = draft.with_words(f"第{index}句")
    assert len(draft.description) <= 12 and draft.description[-1] == "第39句"


def test_a_last_case_stored_before_its_place_was_kept_reads_as_correctable() -> None:
    """A stored last case without area_id and correctable (an older row): None and True."""
    data = FULL.to_dict()
    del data["last_case"]["area_id"], data["last_case"]["correctable"]
    last = DialogueState.from_dict(data).last_case
    assert last is not None and (last.area_id, last.correctable) == (None, True)
