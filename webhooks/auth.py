"""Agent sign-in for the console: hashed passwords, sessions, lockout, rate limit, password change.

- Passwords are werkzeug hashes; a wrong password and an unknown user get the same answer.
- After `MAX_FAILED_LOGINS` wrong passwords in a row the account is locked for
  `LOCKOUT_MINUTES`; a correct password does not open a locked account before then.
- Demo accounts (`Agent.is_demo`) sign in with the published demo password only while
  ZHITONG_DEMO is on.
- The login form is rate-limited per client address (Flask-Limiter): in memory in embedded
  mode, in Redis when ZHITONG_REDIS_URL is set, so every web process shares the count.
- The session names the agent and a fingerprint of the password hash: changing a password ends
  every other session of that agent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_login import login_required as _login_required
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from cases.models import Agent
from webhooks.console.forms import CsrfForm, LoginForm, PasswordForm
from webhooks.extensions import get_db, services

MAX_FAILED_LOGINS = 5
LOCKOUT_MINUTES = 15
LOGIN_RATE_LIMIT = "20 per minute"

bp = Blueprint("auth", __name__, url_prefix="/console")
F = TypeVar("F", bound=Callable[..., Any])


class SignedIn(UserMixin):
    """The Flask-Login user: the agent of this request, loaded in the request's session."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def get_id(self) -> str:
        return f"{self.agent.id}.{fingerprint(self.agent)}"

    @property
    def is_active(self) -> bool:
        return self.agent.active


def fingerprint(agent: Agent) -> str:
    """A short digest of the password hash: a session outlives no password change."""
    return hashlib.sha256(agent.password_hash.encode()).hexdigest()[:16]


def init_app(app: Flask) -> None:
    """Sign-in manager and login rate limit for the console."""
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = ""
    manager.session_protection = "basic"
    manager.user_loader(load_user)
    redis_url = app.extensions["zhitong"].settings.redis_url
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=redis_url or "memory://",
        key_prefix="zhitong-login",
        default_limits=[],
        headers_enabled=False,
    )
    view = app.view_functions["auth.login"]
    app.view_functions["auth.login"] = limiter.limit(  # type: ignore[assignment]
        LOGIN_RATE_LIMIT, methods=["POST"], error_message=_login_limited
    )(view)
    app.register_error_handler(429, _too_many_attempts)


def _login_limited() -> str:
    return _("Too many sign-in attempts from this address. Please wait a minute.")


def _too_many_attempts(error: Exception) -> ResponseReturnValue:
    form = LoginForm()
    flash(_("Too many sign-in attempts from this address. Please wait a minute."), "error")
    return render_template("console/login.html", form=form), 429


def load_user(user_id: str) -> SignedIn | None:
    """The signed-in agent, or None when the account changed, vanished or was disabled."""
    agent_id, _sep, print_ = user_id.partition(".")
    if not agent_id.isdigit():
        return None
    agent = get_db().get(Agent, int(agent_id))
    if agent is None or not agent.active or fingerprint(agent) != print_:
        return None
    if agent.is_demo and not services().settings.demo:
        return None
    return SignedIn(agent)


def current_agent() -> Agent:
    """The signed-in agent (views behind `login_required` only)."""
    agent: Agent = current_user.agent
    return agent


def login_required(view: F) -> F:
    """Flask-Login's `login_required`, typed for the console's views."""
    wrapped: F = _login_required(view)
    return wrapped


def now() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.UTC)


def check_login(agent: Agent | None, password: str, at: dt.datetime, demo: bool) -> str | None:
    """Decide a sign-in attempt and update the agent's failure count; None means welcome.

    Returns:
        A message to show, the same for an unknown user and a wrong password.
    """
    wrong = _("Wrong username or password.")
    if agent is None or not agent.active:
        return wrong
    if agent.locked_until is not None and agent.locked_until > at:
        return _("This account is locked after too many wrong passwords. Try again later.")
    if agent.is_demo and not demo:
        return _("Demo accounts work only in demo mode.")
    if not agent.password_hash or not check_password_hash(agent.password_hash, password):
        agent.failed_logins += 1
        if agent.failed_logins >= MAX_FAILED_LOGINS:
            agent.failed_logins = 0
            agent.locked_until = at + dt.timedelta(minutes=LOCKOUT_MINUTES)
            return _("This account is locked after too many wrong passwords. Try again later.")
        return wrong
    agent.failed_logins = 0
    agent.locked_until = None
    agent.last_login_at = at
    return None


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Sign in with username and password."""
    form = LoginForm()
    if form.validate_on_submit():
        db = get_db()
        agent = db.scalars(
            select(Agent).where(func.lower(Agent.username) == form.username.data.strip().lower())
        ).first()
        refusal = check_login(agent, form.password.data, now(), services().settings.demo)
        db.commit()
        if refusal is None and agent is not None:
            login_user(SignedIn(agent))
            return redirect(_safe_next(request.args.get("next")))
        flash(refusal or "", "error")
        return render_template("console/login.html", form=form), 401
    return render_template("console/login.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out (a POST with the CSRF token, so no link can sign an agent out)."""
    if not CsrfForm().validate_on_submit():
        abort(400)
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password() -> ResponseReturnValue:
    """Change one's own password; other sessions of the agent end."""
    form = PasswordForm()
    agent = current_agent()
    if form.validate_on_submit():
        if not check_password_hash(agent.password_hash, form.current.data):
            flash(_("The current password is wrong."), "error")
            return render_template("console/password.html", form=form), 400
        agent.password_hash = generate_password_hash(form.new.data)
        agent.is_demo = False  # a chosen password is no longer the published one
        get_db().commit()
        login_user(SignedIn(agent))
        flash(_("Your password has been changed."), "ok")
        return redirect(url_for("queues.work"))
    return render_template("console/password.html", form=form)


def _safe_next(target: str | None) -> str:
    """Only a path on this site, never another host."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("queues.work")
