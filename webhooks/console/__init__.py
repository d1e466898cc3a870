"""The agent console (`/console/…`): one blueprint per area of the UI.

- `queues`: work needing a person (review, duplicates, hand-offs, voicemails) and all cases;
- `case`: the case page, its actions and the printable slip;
- `conversations`: a hand-off's live transcript and reply box;
- `intake`: walk-in and patrol registration;
- `residents`: a resident's history (户情民意备忘录);
- `dashboard`: the figures of `cases.metrics`;
- `agents`: account administration;
- `jobs`: failed jobs and parked messages, for administrators.

Sign-in lives in `webhooks.auth`, languages in `webhooks.i18n`.
"""

from __future__ import annotations

from flask import Flask, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException


def init_app(app: Flask) -> None:
    """Register the console's blueprints, sign-in, languages and template helpers."""
    from webhooks import auth, i18n
    from webhooks.console import (
        agents,
        case_page,
        conversations,
        dashboard,
        intake,
        jobs,
        queues,
        residents,
        templating,
    )

    modules = (
        auth,
        i18n,
        queues,
        case_page,
        conversations,
        intake,
        residents,
        dashboard,
        agents,
        jobs,
    )
    for module in modules:
        if not module.bp.error_handler_spec.get(None):
            for code in (400, 403, 404):
                module.bp.register_error_handler(code, _error_page)
        app.register_blueprint(module.bp)
    auth.init_app(app)
    i18n.init_app(app)
    templating.init_app(app)


def _error_page(error: HTTPException) -> ResponseReturnValue:
    """The console's own error page, in the agent's language, with the status code."""
    messages = {
        400: _("The request could not be understood (an expired form?). Please try again."),
        403: _("This is outside your area or role."),
        404: _("There is no such page or case."),
    }
    code = error.code or 500
    message = messages.get(code, error.description or "")
    return render_template("console/error.html", code=code, message=message), code
