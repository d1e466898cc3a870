"""The dialogue: ``step(state, message, context) -> (state, effects)``, pure.

The shell loads the state (`DialogueState.from_dict`), builds the `Inbound` message (with the
NLU's parse) and the `Context` (time, catalog, areas, what it knows about the resident), calls
`step`, carries out the effects (`bot.effects`) in order in one transaction, and stores the
new state (`DialogueState.to_dict`). See docs/dialogue.md.
"""

from bot.dialogue.context import CaseSummary, Context, Inbound
from bot.dialogue.machine import TRANSITIONS, Event, step
from bot.dialogue.state import DialogueState, Stage

__all__ = [
    "TRANSITIONS",
    "CaseSummary",
    "Context",
    "DialogueState",
    "Event",
    "Inbound",
    "Stage",
    "step",
]
