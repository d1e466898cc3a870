"""Languages of the console: Simplified Chinese by default, English on request (Flask-Babel).

The catalogs live in `webhooks/translations/<lang>/LC_MESSAGES/messages.po`; the source strings
are English, so the Chinese catalog must translate every one (a test checks it). The compiled
`.mo` files are committed beside the `.po` files, so a fresh clone needs no build step (a test
fails while a `.mo` is stale or a string lacks its Chinese). After changing UI strings:

    pybabel extract -F webhooks/translations/babel.cfg -k _l -o /tmp/messages.pot .
    pybabel update -i /tmp/messages.pot -d webhooks/translations -l zh --no-location
    (translate the new entries in zh/LC_MESSAGES/messages.po)
    pybabel compile -d webhooks/translations -l zh
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, abort, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import Babel
from flask_login import current_user

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

bp = Blueprint("i18n", __name__, url_prefix="/console")


def select_locale() -> str:
    """The language chosen in this browser session, else the agent's, else Chinese."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    if getattr(current_user, "is_authenticated", False):
        language = current_user.agent.language
        if language in LANGUAGES:
            return str(language)
    return DEFAULT_LANGUAGE


def init_app(app: Flask) -> None:
    """Flask-Babel with the console's catalogs and the county's time zone."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.extensions["zhitong"].settings.timezone
    Babel(app, locale_selector=select_locale)


@bp.route("/lang/<code>", methods=["GET", "POST"])
def switch(code: str) -> ResponseReturnValue:
    """Switch the language of this browser session and go back where the agent was.

    Switching is a POST with the CSRF token (the header's button), so no link or image on
    another site can change an agent's language. A GET (an old bookmark) changes nothing and
    only goes back.
    """
    from webhooks.console.forms import CsrfForm

    if request.method == "POST":
        if not CsrfForm().validate_on_submit():
            abort(400)
        if code in LANGUAGES:
            session["lang"] = code
    target = request.referrer or ""
    host = request.host_url
    return redirect(target if target.startswith(host) else url_for("queues.work"))
