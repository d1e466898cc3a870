"""Property tests: no message, parse or stored state makes the dialogue raise."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogue import DialogueState, Inbound, Stage, step
from bot.effects import Reply
from bot.texts import render, texts
from tests.bot.test_dialogue_fixtures import (
    CASE_NUMBER,
    STAGE_PATHS,
    carried_out,
    context,
    reach,
    summary,
)

PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
REACHED = {stage: reach(stage) for stage in STAGE_PATHS}

# Text a resident could send: every script, control and format characters, emoji, digits.
any_text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
    st.text(alphabet="0123456789①②一二三零幺 -ZT退订人工着火满意不是东门村社区", max_size=40),
    st.sampled_from(["", " ", "\x00", "\u200b", "\ud800", "😀" * 50, "a" * 10_000, "路" * 10_000]),
    st.builds(lambda a, b: a + "\n\t\r" + b, st.text(max_size=30), st.text(max_size=30)),
)
INTENTS = ("infra_road", "infra_streetlight", "social_minimum_living", "greet", "affirm", "deny")
intent_names = st.sampled_from(
    [*INTENTS, "opt_out", "request_human", "check_status", "out_of_scope", "no_such_intent", ""]
)
confidences = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.none(), st.text()
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
parses = st.one_of(
    st.just({}),
    st.builds(
        lambda name, confidence, ranking: {
            "intent": {"name": name, "confidence": confidence},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
            "entities": [{"entity": "area", "value": confidence}, {"entity": "name"}],
        },
        intent_names,
        confidences,
        st.lists(st.tuples(intent_names, confidences), max_size=5),
    ),
    st.dictionaries(st.text(max_size=10), json_values, max_size=4),
)
STATE_KEYS: tuple[str, ...] = (
    "version",
    "stage",
    "language",
    "updated_at",
    "tries",
    "draft",
    "last_case",
)
STATE_KEYS += ("survey_retry", "dropped_surveys", "opted_out_hint_at")
stored_states = st.one_of(
    json_values,
    st.dictionaries(
        st.sampled_from(STATE_KEYS),
        json_values | st.sampled_from([s.value for s in Stage]),
    ),
)
contexts = st.builds(
    lambda opted_out, survey, area, hours, open_, cases: context(
        opted_out=opted_out,
        pending_survey=survey,
        area_id=area,
        now=context().now + dt.timedelta(hours=hours),
        office_hours_open=open_,
        cases=cases,
    ),
    st.booleans(),
    st.sampled_from([None, "202611200003"]),
    st.sampled_from([None, 11, 12, 10, 999]),
    st.sampled_from([0, 1, 3, 25, -1]),
    st.booleans(),
    st.sampled_from([(), (summary(),), (summary(last_event="x" * 500, due=None),)]),
)


def _check(state: DialogueState, effects: list[Any]) -> None:
    """The step's output is storable and every reply renders."""
    json.dumps(state.to_dict())
    assert DialogueState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    for effect in effects:
        assert effect.kind
        if isinstance(effect, Reply):
            render(carried_out(effect), texts())


@PROPERTY_SETTINGS
@given(stage=st.sampled_from(list(STAGE_PATHS)), text=any_text, parse=parses, ctx=contexts)
def test_no_message_in_any_stage_makes_the_step_raise(
    stage: Stage, text: str, parse: dict[str, Any], ctx: Any
) -> None:
    """Empty, huge, control characters, mixed scripts, broken parses: an answer, never a raise."""
    state, _ = REACHED[stage]
    new_state, effects = step(state, Inbound(text, "sms", parse), ctx)
    _check(new_state, effects)
    if not ctx.opted_out:
        assert any(isinstance(e, Reply) for e in effects), "the resident always hears back"


@PROPERTY_SETTINGS
@given(data=stored_states, text=any_text, parse=parses)
def test_no_stored_state_makes_the_step_raise(data: Any, text: str, parse: dict[str, Any]) -> None:
    """Whatever the JSON column holds, reading it and stepping works."""
    state = DialogueState.from_dict(data)
    new_state, effects = step(state, Inbound(text, "web", parse), context())
    _check(new_state, effects)


@PROPERTY_SETTINGS
@given(texts_=st.lists(any_text, min_size=1, max_size=6), parse=parses)
def test_long_conversations_never_raise(texts_: list[str], parse: dict[str, Any]) -> None:
    """A run of arbitrary messages keeps producing storable states and renderable replies."""
    state = DialogueState()
    for text in texts_:
        state, effects = step(state, Inbound(text + CASE_NUMBER[:0], "wechat", parse), context())
        _check(state, effects)
        state = DialogueState.from_dict(state.to_dict())
