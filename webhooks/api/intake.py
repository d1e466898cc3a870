"""Cases that outside systems open and change: the shell between the API views and `cases`.

Both the REST API and Open311 open cases here: the place is checked against the token's area,
the resident's phone becomes a contact, the case is opened as any other (number, routing,
deadline, events), and what the system sent beside it is kept as a `CaseSubmission`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.case_numbers import parse_case_number
from cases.api_tokens import token_area, token_case_scope, token_covers_area
from cases.clock import Clock
from cases.exceptions import NotFoundError, PermissionDeniedError
from cases.lifecycle import ActionContext, Actor, perform
from cases.models import ApiToken, Area, Case, CaseSubmission, Contact, Department, Rating
from cases.models.cases import ActorType
from cases.models.directory import AreaLevel
from cases.models.messaging import AddressKind, Channel
from cases.service import Intake, dispatch_case, escalate_case, open_case
from webhooks.api.errors import ApiProblem, invalid
from webhooks.api.schemas import CaseTransition

# 重办 after a dissatisfied rating gets 15 working days, as in county practice.
REOPEN_WORKING_DAYS = 15


@dataclass(frozen=True)
class Submission:
    """A case as an outside system describes it (REST fields or Open311 fields)."""

    item_code: str
    description: str
    area_code: str | None = None
    summary: str = ""
    urgent: bool = False
    phone: str | None = None
    name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str = ""
    address_id: str = ""
    zipcode: str = ""
    media_url: str = ""
    email: str = ""
    device_id: str = ""
    account_id: str = ""
    first_name: str = ""
    last_name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


def actor_for(token: ApiToken) -> Actor:
    """The actor recorded on events made through a token."""
    return Actor(ActorType.SYSTEM, token.id, f"api:{token.name}"[:64])


def submit_case(
    session: Session, token: ApiToken, submission: Submission, *, now: dt.datetime, clock: Clock
) -> tuple[Case, CaseSubmission]:
    """Open a case for an outside system (the caller commits).

    Raises:
        ApiProblem: unknown area or phone number (422).
        PermissionDeniedError: the place lies outside the token's area.
    """
    area = _place(session, token, submission.area_code)
    contact = _contact(session, submission.phone, submission.name, area)
    intake = Intake(
        item_code=submission.item_code,
        description=submission.description,
        channel=Channel.API,
        area_id=area.id if area else None,
        contact_id=contact.id if contact else None,
        urgent=submission.urgent,
        summary=submission.summary,
    )
    case = open_case(session, intake, now=now, clock=clock, actor=actor_for(token))
    session.flush()
    record = CaseSubmission(
        case_id=case.id,
        api_token_id=token.id,
        token=str(uuid.uuid4()),
        latitude=submission.latitude,
        longitude=submission.longitude,
        address=submission.address[:255],
        address_id=submission.address_id[:64],
        zipcode=submission.zipcode[:16],
        media_url=submission.media_url[:500],
        email=submission.email[:255],
        device_id=submission.device_id[:64],
        account_id=submission.account_id[:64],
        first_name=submission.first_name[:64],
        last_name=submission.last_name[:64],
        attributes=submission.attributes,
        created_at=now,
    )
    session.add(record)
    session.flush()
    return case, record


def find_case(session: Session, token: ApiToken, number: str) -> Case:
    """A case inside the token's area by its number (any written form).

    Raises:
        NotFoundError: no such case, or one the token may not see (not told apart).
    """
    parsed = parse_case_number(number)
    found = (
        session.scalars(
            select(Case).where(Case.number == parsed, token_case_scope(session, token))
        ).first()
        if parsed
        else None
    )
    if found is None:
        raise NotFoundError(f"no case {number!r} within this token's area")
    return found


def transition_case(
    session: Session,
    token: ApiToken,
    case: Case,
    request: CaseTransition,
    *,
    now: dt.datetime,
    clock: Clock,
) -> None:
    """Carry out one lifecycle action for an outside system (the caller commits).

    Raises:
        ApiProblem: a stale version (409), an unknown unit or a missing score (422).
        TransitionError, ActionRefusedError, RoutingError: as the lifecycle decides.
    """
    if request.version is not None and request.version != case.version:
        raise ApiProblem(
            409, "conflict", f"the case is at version {case.version}, not {request.version}"
        )
    actor = actor_for(token)
    context = ActionContext(now=now, clock=clock)
    if request.action == "escalate":
        escalate_case(session, case, actor, context, note=request.note)
    elif request.action == "dispatch":
        dispatch_case(
            session, case, actor, context, _unit(session, request.unit_code), None, request.note
        )
    elif request.action == "rate":
        _rate(session, case, actor, context, request)
    else:
        data = {"working_days": REOPEN_WORKING_DAYS} if request.action == "reopen" else {}
        event = perform(
            case, request.action, actor, ActionContext(now, clock, data), note=request.note
        )
        session.add(event)
    session.flush()


def _rate(
    session: Session, case: Case, actor: Actor, context: ActionContext, request: CaseTransition
) -> None:
    if request.score is None:
        raise invalid("rate needs a score from 1 to 5", "score")
    data = {"score": request.score}
    event = perform(
        case, "rate", actor, ActionContext(context.now, context.clock, data), note=request.note
    )
    session.add(event)
    session.add(
        Rating(
            case_id=case.id,
            contact_id=case.contact_id,
            score=request.score,
            channel=Channel.API,
            comment=request.note,
            at=context.now,
        )
    )


def _unit(session: Session, code: str | None) -> Department:
    if not code:
        raise invalid("dispatch needs the unit_code of the receiving unit", "unit_code")
    unit = session.scalars(
        select(Department).where(Department.code == code, Department.active.is_(True))
    ).first()
    if unit is None:
        raise invalid(f"no active unit with code {code!r}", "unit_code")
    return unit


def _place(session: Session, token: ApiToken, code: str | None) -> Area | None:
    """The case's place: the code given, else the token's own area below town level."""
    if code is None:
        own = token_area(session, token)
        return own if own.level in {AreaLevel.VILLAGE, AreaLevel.GRID, AreaLevel.TOWN} else None
    area = session.scalars(select(Area).where(Area.code == code)).first()
    if area is None:
        raise invalid(f"no area with code {code!r}", "area_code")
    if not token_covers_area(session, token, area):
        raise PermissionDeniedError(f"area {code!r} lies outside this token's area")
    return None if area.level is AreaLevel.COUNTY else area


def _contact(
    session: Session, phone: str | None, name: str | None, area: Area | None
) -> Contact | None:
    """The resident's contact by phone number, created on first sight."""
    if not phone:
        return None
    try:
        parsed = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise invalid("not a valid phone number", "phone")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    contact = session.scalars(
        select(Contact).where(Contact.kind == AddressKind.PHONE, Contact.address == e164)
    ).first()
    if contact is None:
        contact = Contact(
            kind=AddressKind.PHONE,
            address=e164,
            phone=e164,
            name=(name or "")[:64],
            area_id=area.id if area else None,
        )
        session.add(contact)
        session.flush()
    elif name and not contact.name:
        contact.name = name[:64]
    return contact
