"""Typed SQLAlchemy models, split by aggregate: directory, messaging, cases."""

from cases.models.base import Base
from cases.models.cases import (
    AccountabilityEntry,
    Case,
    CaseEvent,
    CaseNumberCounter,
    NluCorrection,
    Rating,
)
from cases.models.directory import Agent, Area, Department
from cases.models.integrations import ApiToken, CaseSubmission
from cases.models.messaging import Call, CallTurn, Contact, Conversation, Message

__all__ = [
    "AccountabilityEntry",
    "Agent",
    "ApiToken",
    "Area",
    "Base",
    "Call",
    "CallTurn",
    "Case",
    "CaseEvent",
    "CaseNumberCounter",
    "CaseSubmission",
    "Contact",
    "Conversation",
    "Department",
    "Message",
    "NluCorrection",
    "Rating",
]
