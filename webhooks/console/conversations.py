"""Hand-offs (转人工): a conversation's transcript and a reply box for the agent."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from cases.access import message_scope
from cases.console_queries import conversation_messages
from cases.models import Contact
from webhooks.auth import current_agent, login_required
from webhooks.console.forms import CsrfForm, ReplyForm
from webhooks.console.helpers import load_conversation
from webhooks.console.messaging import queue_outbound_message
from webhooks.extensions import get_db

bp = Blueprint("conversations", __name__, url_prefix="/console/conversations")


@bp.route("/<int:conversation_id>", methods=["GET", "POST"])
@login_required
def show(conversation_id: int) -> ResponseReturnValue:
    """The live transcript; a reply is stored as an outbound message on the same channel.

    The agent reads only the messages `message_scope` allows, with ID-card and phone numbers
    in them masked (as on the case page); 403 when none of the conversation's cases is theirs.
    """
    conversation = load_conversation(conversation_id)
    db = get_db()
    contact = db.get(Contact, conversation.contact_id)
    if contact is None:
        abort(404)
    form = ReplyForm()
    if form.validate_on_submit():
        queue_outbound_message(db, contact, form.body.data or "", conversation=conversation)
        db.commit()
        flash(_("Your message is queued for sending."), "ok")
        return redirect(url_for("conversations.show", conversation_id=conversation.id))
    return render_template(
        "console/conversation.html",
        conversation=conversation,
        contact=contact,
        messages=conversation_messages(db, conversation.id, message_scope(db, current_agent())),
        form=form,
        release=CsrfForm(),
    ), (400 if form.is_submitted() else 200)


@bp.post("/<int:conversation_id>/release")
@login_required
def release(conversation_id: int) -> ResponseReturnValue:
    """The agent is done: the hand-off request is cleared and the bot answers again."""
    conversation = load_conversation(conversation_id)
    if not CsrfForm().validate_on_submit():
        abort(400)
    conversation.handoff_requested_at = None
    get_db().commit()
    flash(_("The conversation is back with the assistant."), "ok")
    return redirect(url_for("queues.work"))
