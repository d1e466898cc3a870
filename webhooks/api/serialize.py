"""Cases as the machine interfaces show them, with personal data masked unless allowed.

Names, phone numbers, e-mail addresses and device ids are shown only to a token with the
`personal_data` permission whose area covers the case; everyone else gets 138****8000 and 张*,
and free text with every phone and ID-card number masked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.masking import mask_phone, mask_sensitive_text
from cases.api_tokens import shows_personal_data
from cases.lifecycle import allowed_actions
from cases.models import ApiToken, Area, Case, CaseEvent, CaseSubmission, Contact, Department
from cases.service import category_name
from intents.catalog import catalog
from webhooks.api import context
from webhooks.api.schemas import (
    API_ACTIONS,
    ApiAction,
    CaseDetail,
    CaseOut,
    ContactOut,
    HistoryEntry,
    LocationOut,
    Place,
)
from worker.reports import STATUS_NAMES


def mask_name(name: str) -> str:
    """A resident's name with all but the first character hidden (张三丰 → 张**)."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


@dataclass
class Related:
    """What a batch of cases refers to, loaded in a few queries instead of one per case."""

    areas: dict[int, Area]
    units: dict[int, Department]
    contacts: dict[int, Contact]
    submissions: dict[int, CaseSubmission]

    @classmethod
    def load(cls, session: Session, cases: Sequence[Case]) -> Related:
        """Load the areas, units, contacts and submissions of `cases`."""
        area_ids = {i for c in cases for i in (c.area_id, c.town_id) if i is not None}
        unit_ids = {c.department_id for c in cases if c.department_id is not None}
        contact_ids = {c.contact_id for c in cases if c.contact_id is not None}
        case_ids = [c.id for c in cases]
        return cls(
            areas=_by_id(session, Area, area_ids),
            units=_by_id(session, Department, unit_ids),
            contacts=_by_id(session, Contact, contact_ids),
            submissions={
                s.case_id: s
                for s in session.scalars(
                    select(CaseSubmission).where(CaseSubmission.case_id.in_(case_ids))
                )
            }
            if case_ids
            else {},
        )


def case_out(case: Case, related: Related, token: ApiToken | None, personal: bool) -> CaseOut:
    """One case as the API shows it to `token`."""
    item = catalog().item(case.item_code)
    shown = _text_shower(personal)
    contact = related.contacts.get(case.contact_id) if case.contact_id else None
    submission = related.submissions.get(case.id)
    may_act = token is not None and "cases:transition" in token.scopes
    return CaseOut(
        number=case.number,
        item_code=case.item_code,
        item_name=item.zh,
        category_code=case.category_code,
        category_name=category_name(case.category_code),
        kind=case.kind.value,
        handling=case.handling.value,
        status=case.status,
        status_name=STATUS_NAMES[case.status],
        channel=case.channel,
        summary=shown(case.summary),
        description=shown(case.description),
        area=_place(related.areas.get(case.area_id) if case.area_id else None),
        town=_place(related.areas.get(case.town_id) if case.town_id else None),
        unit=_place(related.units.get(case.department_id) if case.department_id else None),
        urgent=case.urgent,
        needs_review=case.needs_review,
        warning_level=case.warning_level,
        received_at=_local(case.received_at),
        due_at=_local(case.due_at) if case.due_at else None,
        resolved_at=_local(case.resolved_at) if case.resolved_at else None,
        closed_at=_local(case.closed_at) if case.closed_at else None,
        updated_at=_local(case.updated_at),
        result=shown(case.result_text),
        reason=shown(case.reason),
        contact=_contact(contact, submission, personal),
        location=_location(submission),
        personal_data=personal,
        version=case.version,
        allowed_actions=_api_actions(case) if may_act else [],
    )


def _api_actions(case: Case) -> list[ApiAction]:
    """Lifecycle actions open to a token from the case's status (guards not consulted)."""
    return [cast(ApiAction, a) for a in allowed_actions(case) if a in API_ACTIONS]


def case_detail(session: Session, case: Case, token: ApiToken | None) -> CaseDetail:
    """One case with its history, as the API shows it to `token`."""
    personal = shows_personal_data(session, token, case)
    shown = _text_shower(personal)
    out = case_out(case, Related.load(session, [case]), token, personal)
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    )
    history = [
        HistoryEntry(
            action=event.action,
            at=_local(event.at),
            from_status=event.from_status,
            to_status=event.to_status,
            note=shown(event.note) if event.visible_to_resident and event.note else None,
        )
        for event in events
    ]
    return CaseDetail(**dict(out), history=history)


def case_page(session: Session, cases: Sequence[Case], token: ApiToken) -> list[CaseOut]:
    """A page of cases the token may see (its scope was applied by the query)."""
    related = Related.load(session, cases)
    personal = "personal_data" in token.scopes
    return [case_out(case, related, token, personal) for case in cases]


def _text_shower(personal: bool) -> Callable[[str], str]:
    return _as_is if personal else mask_sensitive_text


def _as_is(text: str) -> str:
    return text


def _contact(
    contact: Contact | None, submission: CaseSubmission | None, personal: bool
) -> ContactOut | None:
    # Only a real phone number: a web-chat or WeChat address is not one (masked, a token digest
    # looked like a phone number).
    phone = (contact.phone or "") if contact else ""
    name = (contact.name if contact else "") or (
        " ".join(p for p in (submission.first_name, submission.last_name) if p)
        if submission
        else ""
    )
    if not phone and not name:
        return None
    if personal:
        return ContactOut(name=name or None, phone=phone or None)
    return ContactOut(name=mask_name(name) or None, phone=mask_phone(phone) if phone else None)


def _location(submission: CaseSubmission | None) -> LocationOut | None:
    if submission is None or (
        submission.latitude is None and submission.longitude is None and not submission.address
    ):
        return None
    return LocationOut(
        lat=submission.latitude,
        long=submission.longitude,
        address=mask_sensitive_text(submission.address) or None,
    )


def _place(row: Area | Department | None) -> Place | None:
    return Place(code=row.code, name=row.name) if row is not None else None


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(context.zone())


def _by_id(session: Session, model: Any, ids: Iterable[int]) -> dict[int, Any]:
    wanted = sorted(ids)
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(wanted)))}
