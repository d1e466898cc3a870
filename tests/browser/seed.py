"""Cases the browser tests and screenshots start from."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from cases.db import session_scope
from cases.models import Area, Contact, Conversation, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.service import Intake, open_case
from webhooks.extensions import Services


def seed_low_confidence_case(
    services: Services,
    *,
    phone: str = "+8613900011999",
    text: str = "东门社区路口那个灯一直不亮，晚上很黑",
    item: str = "env_garbage",
    place: str = "chengguan.dongmen.g1",
    confidence: float = 0.35,
) -> str:
    """An SMS conversation whose case the bot opened unsure of the item; returns its number."""
    now = dt.datetime.now(dt.UTC)
    with session_scope(services.sessions) as session:
        area = session.scalars(select(Area).where(Area.code == place)).one()
        contact = session.scalars(select(Contact).where(Contact.address == phone)).first()
        if contact is None:
            contact = Contact(
                kind=AddressKind.PHONE, address=phone, phone=phone, name="林阿姨", area_id=area.id
            )
            session.add(contact)
            session.flush()
        talk = Conversation(contact_id=contact.id, channel=Channel.SMS, state={})
        session.add(talk)
        session.flush()
        session.add(
            Message(
                conversation_id=talk.id,
                contact_id=contact.id,
                direction=Direction.INBOUND,
                channel=Channel.SMS,
                body=text,
                status=MessageStatus.PROCESSED,
                media=[],
            )
        )
        case = open_case(
            session,
            Intake(
                item_code=item,
                description=text,
                channel=Channel.SMS,
                area_id=area.id,
                contact_id=contact.id,
                conversation_id=talk.id,
                confidence=confidence,
            ),
            now=now,
            clock=services.clock,
        )
        return case.number
