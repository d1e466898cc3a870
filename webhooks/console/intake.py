"""Walk-in and patrol registration (窗口受理, 网格巡查) and the print view of the slip."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from cases.access import may_register
from cases.console_queries import normalise_phone
from cases.exceptions import CasesError
from cases.models import Agent, Area, Contact
from cases.models.directory import AreaLevel
from cases.models.messaging import AddressKind, Channel
from cases.service import Intake, open_case
from intents.catalog import catalog
from webhooks.auth import current_agent, login_required, now
from webhooks.console.forms import RegisterForm, choices
from webhooks.console.helpers import actor_for, explain_refusal
from webhooks.extensions import get_db, services

bp = Blueprint("intake", __name__, url_prefix="/console/register")


@bp.route("", methods=["GET", "POST"])
@login_required
def register() -> ResponseReturnValue:
    """Open a case for a resident at the window or on patrol; then print the slip."""
    db = get_db()
    agent = current_agent()
    form = RegisterForm()
    form.item_code.choices = choices((item.code, item.zh) for item in catalog().items)
    places = registrable_areas(agent)
    if not places:
        abort(403)
    form.area_id.choices = choices((area.id, label) for area, label in places)
    if request.method == "GET" and request.args.get("contact", "").isdigit():
        known = db.get(Contact, int(request.args["contact"]))
        if known is not None:
            form.phone.data = known.phone or known.address
            form.name.data = known.name
    valid = form.validate_on_submit()
    if valid and form.phone.data and normalise_phone(form.phone.data) is None:
        form.phone.errors = [_("Enter a phone number, e.g. 13800138000.")]
        valid = False
    if not valid:
        status = 400 if form.is_submitted() else 200
        return render_template("console/register.html", form=form), status
    area = db.get(Area, form.area_id.data)
    if area is None or not may_register(db, agent, area):
        abort(403)
    contact = resident_contact(form.phone.data or "", form.name.data or "", area)
    intake = Intake(
        item_code=form.item_code.data or "",
        description=form.description.data or "",
        channel=Channel(form.channel.data),
        area_id=area.id,
        contact_id=contact.id if contact else None,
        urgent=bool(form.urgent.data),
    )
    try:
        case = open_case(db, intake, now=now(), clock=services().clock, actor=actor_for(agent))
        db.commit()
    except CasesError as error:
        db.rollback()
        reason = explain_refusal(error) or str(error)
        flash(_("The case could not be opened: %(reason)s", reason=reason), "error")
        return render_template("console/register.html", form=form), 400
    flash(_("Case %(number)s opened. Print the slip for the resident.", number=case.number), "ok")
    return redirect(url_for("case.slip", number=case.number))


def registrable_areas(agent: Agent) -> list[tuple[Area, str]]:
    """Villages and grids the agent may register cases for, with their labels, in directory
    order: each village followed by its grids (第一网格, 第二网格 … as created), a grid labelled
    with its village ("东门社区 第一网格"), since grid names repeat from village to village."""
    db = get_db()
    everything = {area.id: area for area in db.scalars(select(Area))}
    areas = [
        area
        for area in everything.values()
        if area.level in (AreaLevel.VILLAGE, AreaLevel.GRID) and may_register(db, agent, area)
    ]
    # The materialised path "/1/4/17/" sorts as numbers, not as text ("/1/4/17/" < "/1/4/5/").
    areas.sort(key=lambda area: tuple(int(part) for part in area.path.split("/") if part))
    return [(area, _place_label(area, everything)) for area in areas]


def _place_label(area: Area, everything: dict[int, Area]) -> str:
    parent = everything.get(area.parent_id) if area.parent_id is not None else None
    if area.level is AreaLevel.GRID and parent is not None:
        return f"{parent.name} {area.name}"
    return area.name


def resident_contact(phone: str, name: str, area: Area) -> Contact | None:
    """The resident's phone contact, created on first registration (None without a phone)."""
    number = normalise_phone(phone) if phone.strip() else None
    if number is None:
        return None
    db = get_db()
    contact = db.scalars(
        select(Contact).where(Contact.kind == AddressKind.PHONE, Contact.address == number)
    ).first()
    if contact is None:
        contact = Contact(kind=AddressKind.PHONE, address=number, phone=number, area_id=area.id)
        db.add(contact)
    if name.strip() and not contact.name:
        contact.name = name.strip()
    if contact.area_id is None:
        contact.area_id = area.id
    db.flush()
    return contact
