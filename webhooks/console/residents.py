"""Resident history (户情民意备忘录): every case and conversation of one resident, in scope."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import or_, select

from cases.access import case_scope, conversation_scope
from cases.console_queries import (
    normalise_phone,
    related_contacts,
    resident_cases,
    resident_conversations,
)
from cases.models import Case, Contact
from webhooks.auth import current_agent, login_required
from webhooks.extensions import get_db

bp = Blueprint("residents", __name__, url_prefix="/console/residents")


@bp.get("")
@login_required
def find() -> ResponseReturnValue:
    """Look a resident up by phone number."""
    phone = normalise_phone(request.args.get("phone", ""))
    if phone is None:
        return render_template("console/resident_find.html", searched=bool(request.args))
    contact = (
        get_db()
        .scalars(
            select(Contact).where(or_(Contact.phone == phone, Contact.address == phone)).limit(1)
        )
        .first()
    )
    if contact is None:
        return render_template("console/resident_find.html", searched=True), 404
    return redirect(url_for("residents.show", contact_id=contact.id))


@bp.get("/<int:contact_id>")
@login_required
def show(contact_id: int) -> ResponseReturnValue:
    """The resident's cases and conversations that this agent may see; 403 if there are none."""
    db = get_db()
    contact = db.get(Contact, contact_id)
    if contact is None:
        abort(404)
    agent = current_agent()
    contacts = related_contacts(db, contact)
    ids = [c.id for c in contacts]
    cases = resident_cases(db, case_scope(db, agent), ids)
    conversations = resident_conversations(db, conversation_scope(db, agent), ids)
    if not cases and not conversations:
        # Nothing of this resident is in the agent's scope: not even the name is shown.
        anywhere = db.scalar(select(Case.id).where(Case.contact_id.in_(ids)).limit(1))
        abort(403 if anywhere else 404)
    return render_template(
        "console/resident.html",
        contact=contact,
        contacts=contacts,
        cases=cases,
        conversations=conversations,
    )
