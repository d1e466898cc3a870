"""Models on both databases: aware UTC timestamps, enums, JSON, unique keys and constraints."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from cases.db import make_session_factory
from cases.models import Area, Case, CaseEvent, Contact, Message, Rating
from cases.models.base import UTCDateTime
from cases.models.cases import ActorType, CaseKind, CaseStatus, HandlingKind
from cases.models.directory import AreaLevel
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus

SHANGHAI = ZoneInfo("Asia/Shanghai")


def make_contact(address: str = "+8613900011001", kind: AddressKind = AddressKind.PHONE) -> Contact:
    """A resident's contact."""
    return Contact(kind=kind, address=address)


@pytest.fixture
def contact(session: Session) -> Contact:
    """A stored contact."""
    stored = make_contact()
    session.add(stored)
    session.commit()
    return stored


def inbound(contact: Contact, provider_id: str | None, channel: Channel = Channel.SMS) -> Message:
    """An inbound message of a stored contact."""
    return Message(
        contact_id=contact.id,
        direction=Direction.INBOUND,
        channel=channel,
        provider_id=provider_id,
        body="路灯不亮",
        status=MessageStatus.RECEIVED,
    )


def make_case(number: str = "202610090001", **values: object) -> Case:
    """A minimal case."""
    return Case(
        number=number,
        item_code="infra_streetlight",
        category_code="urban_rural",
        kind=CaseKind.CONCERN,
        handling=HandlingKind.PROMISED,
        channel=Channel.WECHAT,
        received_at=dt.datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI),
        **values,
    )


# Aware times in several zones, one of them on another UTC date than its local date.
MOMENTS = [
    dt.datetime(2026, 10, 9, 10, 0, 0, 123456, tzinfo=SHANGHAI),
    dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=SHANGHAI),
    dt.datetime(2026, 10, 9, 2, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 10, 9, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
]


def test_datetime_round_trips_as_aware_utc(session: Session, contact: Contact) -> None:
    """Any aware time comes back as the same instant, in UTC, with microseconds."""
    for moment in MOMENTS:
        contact.opted_out_at = moment
        session.commit()
        session.expire_all()
        loaded = session.get(Contact, contact.id)
        assert loaded is not None and loaded.opted_out_at is not None
        assert loaded.opted_out_at == moment
        assert loaded.opted_out_at.utcoffset() == dt.timedelta(0)
        assert loaded.opted_out_at.tzinfo is dt.UTC


def test_datetime_compares_in_queries(session: Session, contact: Contact) -> None:
    """A filter with a local time finds rows stored from a UTC time (same instant)."""
    contact.opted_out_at = dt.datetime(2026, 10, 9, 2, 0, tzinfo=dt.UTC)
    session.commit()
    before = dt.datetime(2026, 10, 9, 9, 59, tzinfo=SHANGHAI)
    after = dt.datetime(2026, 10, 9, 10, 1, tzinfo=SHANGHAI)
    assert session.scalar(select(Contact.id).where(Contact.opted_out_at > before)) == contact.id
    assert session.scalar(select(Contact.id).where(Contact.opted_out_at > after)) is None


def test_naive_datetime_refused_on_store(session: Session, contact: Contact) -> None:
    """A naive datetime is never written to the database."""
    contact.opted_out_at = dt.datetime(2026, 10, 9, 10, 0)
    with pytest.raises(StatementError, match="naive datetime") as raised:
        session.flush()
    assert isinstance(raised.value.orig, ValueError)
    session.rollback()


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_utc_datetime_binds(dialect: object) -> None:
    """SQLite gets naive UTC, PostgreSQL aware UTC; naive input is refused."""
    column = UTCDateTime()
    local = dt.datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI)
    bound = column.process_bind_param(local, dialect)  # type: ignore[arg-type]
    assert bound is not None and bound.replace(tzinfo=dt.UTC) == local
    assert (bound.tzinfo is None) is (dialect.name == "sqlite")  # type: ignore[attr-defined]
    assert column.process_bind_param(None, dialect) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(dt.datetime(2026, 10, 9, 10, 0), dialect)  # type: ignore[arg-type]


def test_duplicate_provider_id_refused(session: Session, contact: Contact) -> None:
    """A provider's message id is stored once per channel (webhook retries are recognised)."""
    session.add(inbound(contact, "SM0123456789abcdef"))
    session.commit()
    session.add(inbound(contact, "SM0123456789abcdef"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_same_provider_id_on_other_channel_allowed(session: Session, contact: Contact) -> None:
    """Provider ids are unique per channel only."""
    session.add_all(
        [inbound(contact, "1234567890"), inbound(contact, "1234567890", Channel.WECHAT)]
    )
    session.commit()
    assert len(session.scalars(select(Message)).all()) == 2


def test_messages_without_provider_id_may_repeat(session: Session, contact: Contact) -> None:
    """Outbound messages not yet sent have no provider id; any number of them may exist."""
    session.add_all([inbound(contact, None), inbound(contact, None), inbound(contact, None)])
    session.commit()
    assert len(session.scalars(select(Message)).all()) == 3


def test_duplicate_contact_address_refused(session: Session, contact: Contact) -> None:
    """One contact per (kind, address)."""
    session.add(make_contact(contact.address))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_same_address_in_other_address_space_allowed(session: Session, contact: Contact) -> None:
    """A phone number and the same number on WhatsApp are two contacts."""
    session.add(make_contact(contact.address, AddressKind.WHATSAPP))
    session.commit()
    assert session.scalar(select(Contact).where(Contact.kind == AddressKind.WHATSAPP)) is not None


def test_case_number_unique(session: Session) -> None:
    """Two cases cannot share a number."""
    session.add(make_case())
    session.commit()
    session.add(make_case())
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_enums_json_and_defaults_round_trip(session: Session) -> None:
    """Statuses come back as enums, event data as dicts, column defaults are filled in."""
    case = make_case()
    case.events.append(
        CaseEvent(
            action="create",
            actor_type=ActorType.BOT,
            at=case.received_at,
            from_status=None,
            to_status=CaseStatus.NEW,
            data={"unit": "chengguan.service_center", "scores": [0.9, 0.1], "名": "值"},
        )
    )
    session.add(case)
    session.commit()
    session.expire_all()
    loaded = session.scalars(select(Case)).one()
    assert loaded.status is CaseStatus.NEW
    assert loaded.kind is CaseKind.CONCERN
    assert (
        loaded.extension_days,
        loaded.escalation_count,
        loaded.needs_review,
        loaded.version,
    ) == (0, 0, False, 1)
    assert loaded.events[0].data == {
        "unit": "chengguan.service_center",
        "scores": [0.9, 0.1],
        "名": "值",
    }
    assert loaded.events[0].from_status is None


@pytest.mark.parametrize("score", [0, 6])
def test_rating_score_checked_by_database(session: Session, score: int) -> None:
    """The database itself refuses a rating outside 1–5."""
    case = make_case()
    session.add(case)
    session.flush()
    session.add(Rating(case_id=case.id, score=score, channel=Channel.SMS, at=case.received_at))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_stale_case_update_refused(engine: Engine) -> None:
    """An agent acting on an outdated copy of a case cannot overwrite a newer change."""
    factory = make_session_factory(engine)
    with factory() as first:
        first.add(make_case())
        first.commit()
        stale = first.scalars(select(Case)).one()
        first.commit()
        with factory() as second:
            fresh = second.scalars(select(Case)).one()
            fresh.summary = "路灯已报修"
            second.commit()
        stale.summary = "改为道路破损"
        with pytest.raises(StaleDataError):
            first.commit()
        first.rollback()


def test_area_covers_by_path() -> None:
    """An area covers itself and everything below it, nothing beside it."""
    town = Area(code="t", name="镇", level=AreaLevel.TOWN, path="/1/4/")
    village = Area(code="v", name="村", level=AreaLevel.VILLAGE, path="/1/4/17/")
    other = Area(code="o", name="镇", level=AreaLevel.TOWN, path="/1/41/")
    assert town.covers(village) and town.covers(town)
    assert not village.covers(town)
    assert not town.covers(other)
