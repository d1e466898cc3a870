"""Effects: frozen values with a stable kind, convertible to JSON for logs and outboxes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot.effects import (
    AFTER_OPEN_CASE,
    EFFECT_KINDS,
    Effect,
    HandOff,
    HandOffReason,
    OpenCase,
    OptIn,
    OptOut,
    ReclassifyCase,
    RecordRating,
    Reply,
    SetCasePlace,
    UpdateContact,
)

EXAMPLES: list[Effect] = [
    Reply(
        "receipt",
        {"item": "路灯不亮", "unit": Reply("unit_town", {"town": "城关镇"})},
        "zh",
        AFTER_OPEN_CASE,
    ),
    OpenCase("infra_streetlight", "路灯坏了\n东门社区", 11, 0.91, urgent=False),
    ReclassifyCase("202611230017", "infra_road"),
    RecordRating("202611230017", 5),
    HandOff(HandOffReason.REQUESTED),
    OptOut(),
    OptIn(),
    UpdateContact(name="张三", area_id=21),
    SetCasePlace("202611230017", 40),
]


def test_every_effect_kind_is_named_once() -> None:
    """The kinds the shell dispatches on are stable and distinct."""
    assert EFFECT_KINDS == (
        "reply",
        "open_case",
        "reclassify_case",
        "record_rating",
        "hand_off",
        "opt_out",
        "opt_in",
        "update_contact",
        "set_case_place",
    )
    assert [effect.kind for effect in EXAMPLES] == list(EFFECT_KINDS)


@pytest.mark.parametrize("effect", EXAMPLES, ids=lambda e: e.kind)
def test_effects_are_frozen(effect: Effect) -> None:
    """An effect cannot be changed after the dialogue returned it."""
    for field in dataclasses.fields(effect):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(effect, field.name, None)


@pytest.mark.parametrize("effect", EXAMPLES, ids=lambda e: e.kind)
def test_effects_convert_to_json(effect: Effect) -> None:
    """to_dict gives JSON data carrying the kind; nested replies become dicts too."""
    data = json.loads(json.dumps(effect.to_dict(), ensure_ascii=False))
    assert data["kind"] == effect.kind


def test_nested_replies_convert_to_json() -> None:
    """A reply parameter that is a reply is written out as one."""
    data = EXAMPLES[0].to_dict()
    assert data["params"]["unit"] == {
        "kind": "reply",
        "text_key": "unit_town",
        "params": {"town": "城关镇"},
        "language": "zh",
        "after": None,
    }
    lines = Reply("my_cases", {"cases": (Reply("case_line", {"number": "1"}),)}).to_dict()
    assert lines["params"]["cases"][0]["text_key"] == "case_line"


def test_equal_replies_compare_and_hash_equal() -> None:
    """Replies are values: equal content, equal replies, usable in sets."""
    first = Reply("confirm_item", {"item": "路灯不亮"}, "zh")
    second = Reply("confirm_item", {"item": "路灯不亮"}, "zh")
    assert first == second and hash(first) == hash(second)
    assert len({first, second, Reply("confirm_item", {"item": "垃圾"}, "zh")}) == 2


def test_hand_off_reasons_are_strings() -> None:
    """Reasons are plain strings for the shell and the console."""
    assert HandOff(HandOffReason.UNCLEAR).reason == "unclear"
    assert json.dumps(HandOff(HandOffReason.MISCLASSIFIED).to_dict()) == (
        '{"kind": "hand_off", "reason": "misclassified"}'
    )
