"""What every console view needs: load-and-check helpers, the acting agent, refusal messages."""

from __future__ import annotations

from flask import abort
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from cases.access import can_see, conversation_scope, may_act
from cases.exceptions import ActionRefusedError, CasesError, NotFoundError, RoutingError
from cases.lifecycle import Actor
from cases.models import Agent, Case, Conversation
from cases.models.cases import ActorType
from webhooks.auth import current_agent
from webhooks.console.labels import STATUSES, label
from webhooks.extensions import get_db

# The lifecycle's refusals are written for developers; agents read these instead.
REFUSALS: tuple[tuple[str, LazyString], ...] = (
    ("must be within", _l("A dispatch can be returned only within 2 working days.")),
    ("limited to", _l("Extensions are limited to 10 working days in all.")),
    ("whole number of working days", _l("Give the extension in whole working days (1–10).")),
    ("no deadline to extend", _l("This case has no deadline to extend.")),
    ("no extension request", _l("No extension request is waiting for a decision.")),
    ("surviving case", _l("Name the case this one duplicates (another case number).")),
    ("no merge to undo", _l("This case has no merge to undo.")),
    (
        "merge the other way round",
        _l("That case was merged into this one: merge it the other way round."),
    ),
    ("needs a reason", _l("Please write a reason or text.")),
    ("top of the escalation chain", _l("The case is already at the top level.")),
)


def load_case(number: str, action: str | None = None) -> Case:
    """The case with this number, in the agent's scope; 404 when unknown, 403 when not allowed.

    Args:
        number: the case number from the URL.
        action: when given, the agent must also be allowed to take this action (403).
    """
    db = get_db()
    case = db.scalars(select(Case).where(Case.number == number)).first()
    if case is None:
        abort(404)
    agent = current_agent()
    if not can_see(db, agent, case):
        abort(403)
    if action is not None and not may_act(db, agent, case, action):
        abort(403)
    return case


def load_conversation(conversation_id: int) -> Conversation:
    """A conversation the agent may read; 404 when unknown, 403 when out of scope."""
    db = get_db()
    conversation = db.get(Conversation, conversation_id)
    if conversation is None:
        abort(404)
    allowed = db.scalar(
        select(Conversation.id).where(
            Conversation.id == conversation_id, conversation_scope(db, current_agent())
        )
    )
    if allowed is None:
        abort(403)
    return conversation


def actor_for(agent: Agent) -> Actor:
    """The agent as the actor recorded on case events (with the name residents may read)."""
    return Actor(ActorType.AGENT, agent.id, agent.display_name)


def refusal_message(error: CasesError, case: Case) -> str:
    """A message an agent understands for a refused action."""
    text = str(error)
    for fragment, message in REFUSALS:
        if fragment in text:
            return str(message)
    if isinstance(error, ActionRefusedError):
        return _("The action was refused: %(reason)s", reason=text)
    if isinstance(error, RoutingError | NotFoundError):
        return _("No unit can take this case: %(reason)s", reason=text)
    return _(
        "This action is not possible while the case is “%(status)s”.",
        status=label(STATUSES, case.status),
    )
