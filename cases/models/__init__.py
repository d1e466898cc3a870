"""Typed SQLAlchemy models, split by aggregate: directory, messaging, cases."""

from cases.models.base import Base
from cases.models.cases import AccountabilityEntry, Case, CaseEvent, CaseNumberCounter, Rating
from cases.models.directory import Agent, Area, Department
from cases.models.messaging import Contact, Conversation, Message

__all__ = [
    "AccountabilityEntry",
    "Agent",
    "Area",
    "Base",
    "Case",
    "CaseEvent",
    "CaseNumberCounter",
    "Contact",
    "Conversation",
    "Department",
    "Message",
    "Rating",
]
