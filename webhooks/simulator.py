"""The resident simulator (demo mode only): text the bot as a resident would.

The page signs each message exactly as Twilio signs its webhooks and posts it to
`/twilio/sms` — the same code path a real SMS takes — then shows the TwiML answer and, by
polling, every later message to that number (status changes, results, surveys).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from cases.models import Contact, Message
from cases.models.messaging import AddressKind
from webhooks import twilio_signature
from webhooks.extensions import get_db, services
from webhooks.sms import e164

bp = Blueprint("simulator", __name__, url_prefix="/simulator")

MAX_SHOWN = 200
DEMO_NUMBERS = ("+8613900123456", "+8613900654321", "+8613711112222")


@bp.before_request
def demo_only() -> None:
    """The simulator exists only in demo mode."""
    if not services().settings.demo:
        abort(404)


@bp.get("")
def page() -> str:
    """The phone-like page."""
    return render_template("simulator.html", numbers=DEMO_NUMBERS)


@bp.post("/sign")
def sign() -> Response:
    """The Twilio signature for a webhook the page is about to post (demo signing key)."""
    params = request.get_json(silent=True)
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        abort(400, description="JSON object of string form fields expected")
    settings = services().settings
    token = twilio_signature.signing_token(settings, str(current_app.secret_key or ""))
    if token is None:
        abort(503)
    url = twilio_signature.public_request_url_for(url_for("sms.incoming", _external=True), settings)
    return jsonify({"signature": twilio_signature.sign(token, url, params)})


@bp.get("/messages")
def messages() -> Response:
    """Every message to and from one number, oldest first."""
    phone = e164(request.args.get("phone", ""))
    if phone is None:
        abort(400, description="a valid phone number is required")
    contact = (
        get_db()
        .scalars(select(Contact).where(Contact.kind == AddressKind.PHONE, Contact.address == phone))
        .first()
    )
    if contact is None:
        return jsonify({"messages": []})
    rows = get_db().scalars(
        select(Message)
        .where(Message.contact_id == contact.id)
        .order_by(Message.id.desc())
        .limit(MAX_SHOWN)
    )
    shown: list[dict[str, Any]] = [
        {
            "id": m.id,
            "direction": m.direction.value,
            "channel": m.channel.value,
            "body": m.body,
            "status": m.status.value,
            "at": m.created_at.isoformat(),
        }
        for m in reversed(list(rows))
    ]
    return jsonify({"messages": shown})
