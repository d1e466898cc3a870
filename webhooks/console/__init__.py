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

from flask import Flask, Response, make_response, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

from webhooks.api import errors


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
    # Errors no console blueprint sees (no route matched, the exports blueprint): the same page
    # for every path under /console/, through the app's one prefix-to-renderer table.
    errors.init_app(app, "/console/", _problem_page)
    auth.init_app(app)
    i18n.init_app(app)
    templating.init_app(app)


def _error_page(error: HTTPException) -> ResponseReturnValue:
    """The console's own error page, in the agent's language, with the status code."""
    return error_page(error.code or 500, error.description)


def _problem_page(problem: errors.ApiProblem) -> Response:
    if problem.status >= 500:
        # A failure of ours: Werkzeug's plain page, which needs no database or template.
        failure = default_exceptions.get(problem.status, InternalServerError)()
        return make_response(failure.get_response())
    return make_response(error_page(problem.status, problem.message))


def error_page(code: int, description: str | None = None) -> ResponseReturnValue:
    """The console-styled error page for `code`.

    A view that aborts with its own description (`abort(400, description=_("…"))`) has it shown;
    Werkzeug's default English descriptions are replaced by the console's translated ones.
    """
    messages = {
        400: _("The request could not be understood (an expired form?). Please try again."),
        403: _("This is outside your area or role."),
        404: _("There is no such page or case."),
        405: _("This page cannot be used that way."),
    }
    default = default_exceptions.get(code)
    custom = description and (default is None or description != default.description)
    message = description if custom else messages.get(code, description or "")
    return render_template("console/error.html", code=code, message=message), code
