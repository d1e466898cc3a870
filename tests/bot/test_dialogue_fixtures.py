"""Builders shared by the dialogue tests: a small county, stub NLU parses, tables of turns.

The county has two towns and four villages; two villages share the name 东门 (城关镇东门社区 and
东澳镇东门村), so that a place can be ambiguous. NLU parses are written by hand per turn: these
tests are about the dialogue, not the classifier.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bot.dialogue import CaseSummary, Context, DialogueState, Inbound, Stage, step
from bot.effects import Effect, OpenCase, ReclassifyCase, Reply
from bot.gazetteer import AreaGazetteer, AreaRow
from bot.texts import fill_case, render, texts
from intents.catalog import catalog

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)  # a Monday
CHENGGUAN, DONGAO = 10, 20  # towns
DONGMEN_SHEQU, XIJIE, DONGMEN_CUN, YUGANG = 11, 12, 21, 22  # villages
AREAS = [
    AreaRow(CHENGGUAN, "城关镇", "town"),
    AreaRow(DONGAO, "东澳镇", "town"),
    AreaRow(DONGMEN_SHEQU, "东门社区", "village", CHENGGUAN),
    AreaRow(XIJIE, "西街社区", "village", CHENGGUAN),
    AreaRow(DONGMEN_CUN, "东门村", "village", DONGAO),
    AreaRow(YUGANG, "渔港社区", "village", DONGAO),
]
GAZETTEER = AreaGazetteer(AREAS)
CASE_NUMBER = "202611230017"
DUE = dt.datetime(2026, 11, 30, 17, 30, tzinfo=SHANGHAI)


def context(**overrides: Any) -> Context:
    """A context in the small county at `NOW`, with the real catalog; fields may be replaced."""
    values: dict[str, Any] = {"now": NOW, "catalog": catalog(), "gazetteer": GAZETTEER}
    values.update(overrides)
    return Context(**values)


def nlu(*ranking: tuple[str, float]) -> dict[str, Any]:
    """A Rasa-shaped parse with this ranking (best first); none at all without one."""
    if not ranking:
        return {}
    name, confidence = ranking[0]
    return {
        "intent": {"name": name, "confidence": confidence},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
        "entities": [],
    }


def summary(number: str = CASE_NUMBER, **overrides: Any) -> CaseSummary:
    """A case as the shell would load it: a street light being repaired."""
    values: dict[str, Any] = {
        "number": number,
        "item_code": "infra_streetlight",
        "status": "in_progress",
        "status_zh": "办理中",
        "status_en": "In progress",
        "due": DUE,
        "last_event": "已派电工维修",
    }
    values.update(overrides)
    return CaseSummary(**values)


@dataclass(frozen=True)
class Say:
    """One turn of a conversation table: what the resident says and what must come back.

    Attributes:
        text: the message.
        parse: the stub NLU parse for it.
        kinds: the kinds of the effects, in order ("reply", "open_case", …).
        replies: the text keys of the replies, in order.
        stage: the stage after the turn, if it matters.
        ctx: context fields to override for this turn.
    """

    text: str
    parse: dict[str, Any] = field(default_factory=dict)
    kinds: tuple[str, ...] | None = None
    replies: tuple[str, ...] | None = None
    stage: Stage | None = None
    ctx: dict[str, Any] = field(default_factory=dict)


@dataclass
class Conversation:
    """The state and every effect of a conversation played from a table of turns."""

    state: DialogueState
    effects: list[list[Effect]]

    def last(self, kind: type[Effect]) -> Any:
        """The last effect of a type anywhere in the conversation."""
        found = [e for turn in self.effects for e in turn if isinstance(e, kind)]
        assert found, f"no {kind.__name__} in the conversation"
        return found[-1]


def play(
    turns: Sequence[Say],
    *,
    state: DialogueState | None = None,
    base: dict[str, Any] | None = None,
    channel: str = "sms",
    record_case: bool = True,
) -> Conversation:
    """Play a table of turns, checking each turn's expectations, as the shell would.

    Like the shell, it stores the state as JSON between turns, fills and renders every reply
    (failing on any that does not render), and records the number of each opened case.
    """
    current = state or DialogueState()
    all_effects: list[list[Effect]] = []
    for index, turn in enumerate(turns):
        ctx = context(**{**(base or {}), **turn.ctx})
        current, effects = step(current, Inbound(turn.text, channel, turn.parse), ctx)
        label = f"turn {index} ({turn.text!r})"
        if turn.kinds is not None:
            assert tuple(e.kind for e in effects) == turn.kinds, f"{label}: {effects}"
        if turn.replies is not None:
            keys = tuple(e.text_key for e in effects if isinstance(e, Reply))
            assert keys == turn.replies, f"{label}: {keys}"
        if turn.stage is not None:
            assert current.stage is turn.stage, f"{label}: stage {current.stage}"
        for effect in effects:
            if isinstance(effect, Reply):
                assert render(carried_out(effect), texts())
        if record_case and any(isinstance(e, OpenCase) for e in effects):
            current = current.with_case_number(CASE_NUMBER)
        current = DialogueState.from_dict(current.to_dict())
        all_effects.append(effects)
    return Conversation(current, all_effects)


def carried_out(reply: Reply) -> Reply:
    """A reply as the shell sends it: case placeholders filled after OpenCase/ReclassifyCase."""
    if reply.after is None:
        return reply
    return fill_case(reply, number=CASE_NUMBER, due=DUE)


def text_of(effects: Sequence[Effect]) -> str:
    """Every reply of a turn, rendered and joined, for checks on wording."""
    return "\n".join(render(carried_out(e), texts()) for e in effects if isinstance(e, Reply))


__all__ = [
    "CASE_NUMBER",
    "GAZETTEER",
    "NOW",
    "OpenCase",
    "ReclassifyCase",
    "Say",
    "context",
    "nlu",
    "play",
    "summary",
    "text_of",
]


STREETLIGHT = nlu(("infra_streetlight", 0.91), ("infra_road", 0.04))
PENSION_QUESTION = nlu(("social_minimum_living", 0.88))
UNSURE_ROAD = nlu(("infra_road", 0.52), ("infra_streetlight", 0.2), ("env_garbage", 0.1))
VAGUE = nlu(
    ("out_of_scope", 0.3), ("infra_water", 0.25), ("env_pollution", 0.2), ("env_garbage", 0.1)
)

# Turns that bring a conversation to each stage, with the context they need.
STAGE_PATHS: dict[Stage, tuple[list[Say], dict[str, Any]]] = {
    Stage.IDLE: ([], {}),
    Stage.MENU: ([Say("今天天气不错", nlu(("out_of_scope", 0.9)))], {}),
    Stage.DESCRIBE: ([Say("随便说说", nlu(("out_of_scope", 0.9))), Say("1")], {}),
    Stage.CONFIRM_ITEM: ([Say("路上有个大坑", UNSURE_ROAD)], {}),
    Stage.CHOOSE_ITEM: ([Say("这里有问题", VAGUE)], {}),
    Stage.ASK_PLACE: ([Say("路灯坏了", STREETLIGHT)], {}),
    Stage.CHOOSE_PLACE: ([Say("东门的路灯坏了", STREETLIGHT)], {}),
    Stage.OFFER_PROXY: ([Say("我想申请低保", PENSION_QUESTION)], {}),
    Stage.ASK_DETAILS: ([Say("我想申请低保", PENSION_QUESTION), Say("1")], {}),
    Stage.AFTER_ANSWER: ([Say("低保要带什么材料？", PENSION_QUESTION)], {}),
    Stage.AFTER_RECEIPT: ([Say("东门社区路灯坏了", STREETLIGHT)], {}),
    Stage.CHOOSE_CORRECTION: ([Say("西街社区路上有个坑", UNSURE_ROAD), Say("1"), Say("0")], {}),
    Stage.SURVEY_RETRY: ([Say("嗯？", {})], {"pending_survey": "202611200003"}),
}


def reach(stage: Stage) -> tuple[DialogueState, dict[str, Any]]:
    """A stored state in `stage`, and the context fields that go with it."""
    turns, base = STAGE_PATHS[stage]
    conversation = play(turns, base=base)
    assert conversation.state.stage is stage, conversation.state.stage
    return conversation.state, base
