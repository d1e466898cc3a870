"""The dialogue on the real intent model (trained once per machine, see tests/fixtures/nlu)."""

from __future__ import annotations

import pytest

from bot.dialogue import DialogueState, Inbound, step
from bot.effects import OpenCase, Reply
from bot.nlu import IntentModel
from bot.texts import render, texts
from tests.bot.test_dialogue_fixtures import carried_out, context
from tests.fixtures.nlu import project_model


@pytest.fixture(scope="module")
def model() -> IntentModel:
    """The project's trained model, as a server loads it."""
    return project_model()


@pytest.mark.parametrize(
    "turns",
    [
        ["我家门口的路灯坏了好几天了", "西街社区", "1"],
        ["低保要带什么材料", "1", "张三，东门村"],
        ["你好", "我想查一下进度", "谢谢"],
        ["今天天气怎么样", "4"],
    ],
)
def test_conversations_on_the_real_model(model: IntentModel, turns: list[str]) -> None:
    """Real parses drive the dialogue to replies that render; reports open at most one case."""
    state = DialogueState()
    opened = 0
    for text in turns:
        state, effects = step(state, Inbound(text, "sms", model.parse(text)), context())
        assert any(isinstance(e, Reply) for e in effects)
        for effect in effects:
            if isinstance(effect, Reply):
                assert render(carried_out(effect), texts())
        opened += sum(isinstance(e, OpenCase) for e in effects)
    assert opened <= 1
