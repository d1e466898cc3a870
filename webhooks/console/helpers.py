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

# The domain's refusals are written for developers; agents read these instead. Each is found by a
# fragment of the English message (`tests/webhooks/test_console_fixes.py` checks that every
# refusal the console can meet has one); the first matching fragment wins.
REFUSALS: tuple[tuple[str, LazyString], ...] = (
    ("must be within", _l("A dispatch can be returned only within 2 working days.")),
    ("limited to", _l("Extensions are limited to 10 working days in all.")),
    ("whole number of working days", _l("Give the extension in whole working days (1–10).")),
    ("no deadline to extend", _l("This case has no deadline to extend.")),
    ("no extension request", _l("No extension request is waiting for a decision.")),
    ("no case with that number", _l("There is no case with that number: check the number.")),
    ("surviving case", _l("Name the case this one duplicates (another case number).")),
    ("no merge to undo", _l("This case has no merge to undo.")),
    ("no merge to confirm", _l("This case has no merge to confirm.")),
    ("no suspected duplicate", _l("This case is not marked as a possible duplicate.")),
    (
        "merge the other way round",
        _l("That case was merged into this one: merge it the other way round."),
    ),
    ("needs a reason", _l("Please write a reason or text.")),
    ("top of the escalation chain", _l("The case is already at the top level.")),
    ("choose a unit you may dispatch to", _l("Choose a unit you may dispatch to.")),
    (
        "does not work for that unit",
        _l("The chosen agent does not work for the chosen unit: pick one of its agents, or none."),
    ),
    ("choose a catalog item", _l("Choose the correct matter from the list.")),
    ("already has that item", _l("The case already has this matter: choose another one.")),
    ("no resident contact", _l("This case has no resident contact to send a message to.")),
    ("has no owning unit", _l("No unit holds this case yet: dispatch it first.")),
    ("no catalog item", _l("This matter is not in the catalog (any more): reclassify the case.")),
    ("no area with id", _l("This place is not in the directory.")),
    (
        "has no service centre",
        _l("The town has no service centre in the directory: ask the administrator."),
    ),
    (
        "no county department with code",
        _l("The directory lacks the county department for this matter: ask the administrator."),
    ),
    (
        "no county intake desk",
        _l("The directory has no county intake desk: ask the administrator."),
    ),
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


def explain_refusal(error: CasesError) -> str | None:
    """The agent's words for a refusal the console knows (see `REFUSALS`), else None."""
    text = str(error)
    for fragment, message in REFUSALS:
        if fragment in text:
            return str(message)
    return None


def refusal_message(error: CasesError, case: Case) -> str:
    """A message an agent understands for a refused action."""
    known = explain_refusal(error)
    if known is not None:
        return known
    text = str(error)
    if isinstance(error, ActionRefusedError):
        return _("The action was refused: %(reason)s", reason=text)
    if isinstance(error, RoutingError | NotFoundError):
        return _("No unit can take this case: %(reason)s", reason=text)
    return _(
        "This action is not possible while the case is “%(status)s”.",
        status=label(STATUSES, case.status),
    )
