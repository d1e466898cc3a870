"""Console sign-in: passwords, lockout, demo accounts, CSRF, rate limit, password change."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from cases.models import Agent
from tests.fixtures.console import (
    console_app,
    console_client,
    csrf_token,
    demo_settings,
    post_form,
    sign_in,
)
from webhooks.auth import LOCKOUT_MINUTES, MAX_FAILED_LOGINS, check_login

__all__ = ["console_app", "console_client", "demo_settings"]  # fixtures used by the tests

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def agent(session: Session, username: str) -> Agent:
    """A demo agent, read fresh (the test's transaction ended so the app can write)."""
    session.rollback()
    session.expire_all()
    found = session.scalars(select(Agent).where(Agent.username == username)).one()
    session.expunge(found)
    session.rollback()
    return found


def test_sign_in_and_out(console_client: FlaskClient, demo_session: Session) -> None:
    """A demo account signs in with the demo password in demo mode, and out with a POST."""
    assert console_client.get("/console/").status_code == 302  # sign-in required
    response = sign_in(console_client, "supervisor")
    assert response.status_code == 302 and response.location.endswith("/console/")
    assert "林国庆" in console_client.get("/console/").get_data(as_text=True)
    assert agent(demo_session, "supervisor").last_login_at is not None
    assert post_form(console_client, "/console/logout", {}).status_code == 302
    assert console_client.get("/console/").status_code == 302


def test_wrong_password_and_unknown_user_answer_alike(console_client: FlaskClient) -> None:
    """Both get 401 and the same words, in Chinese by default."""
    wrong = sign_in(console_client, "supervisor", "nope").get_data(as_text=True)
    unknown = sign_in(console_client, "nobody", "nope").get_data(as_text=True)
    assert "用户名或密码错误" in wrong and "用户名或密码错误" in unknown


def test_lockout_after_repeated_failures() -> None:
    """Five wrong passwords lock the account; even the right one waits out the lockout."""
    who = Agent(
        username="a",
        display_name="a",
        role="admin",
        password_hash=generate_password_hash("right", "pbkdf2:sha256:1000"),
    )
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert check_login(who, "wrong", NOW, demo=False) is not None
    assert who.locked_until is None
    check_login(who, "wrong", NOW, demo=False)
    assert who.locked_until == NOW + dt.timedelta(minutes=LOCKOUT_MINUTES)
    assert check_login(who, "right", NOW + dt.timedelta(minutes=1), demo=False) is not None
    later = NOW + dt.timedelta(minutes=LOCKOUT_MINUTES + 1)
    assert check_login(who, "right", later, demo=False) is None
    assert who.failed_logins == 0 and who.locked_until is None


def test_lockout_through_the_form(console_client: FlaskClient, demo_session: Session) -> None:
    """The form counts failures in the database and refuses the locked account."""
    for _ in range(MAX_FAILED_LOGINS):
        sign_in(console_client, "town_dongao", "wrong")
    assert agent(demo_session, "town_dongao").locked_until is not None
    response = sign_in(console_client, "town_dongao")
    assert response.status_code == 401 and "已锁定" in response.get_data(as_text=True)


def test_demo_password_only_in_demo_mode() -> None:
    """A demo account is refused when ZHITONG_DEMO is off, whatever the password."""
    who = Agent(
        username="d",
        display_name="d",
        role="admin",
        is_demo=True,
        password_hash=generate_password_hash("zhitong-demo", "pbkdf2:sha256:1000"),
    )
    assert check_login(who, "zhitong-demo", NOW, demo=False) is not None
    assert check_login(who, "zhitong-demo", NOW, demo=True) is None


def test_demo_session_ends_when_demo_mode_is_off(
    console_app: Flask, console_client: FlaskClient
) -> None:
    """A demo agent signed in earlier is signed out once the app runs without demo mode."""
    sign_in(console_client, "supervisor")
    services = console_app.extensions["zhitong"]
    services.settings = services.settings.model_copy(update={"demo": False})
    assert console_client.get("/console/").status_code == 302


def test_post_without_csrf_token_is_refused(console_client: FlaskClient) -> None:
    """A login form without its CSRF token is not accepted."""
    response = console_client.post(
        "/console/login", data={"username": "supervisor", "password": "zhitong-demo"}
    )
    assert response.status_code == 200  # the form again, not signed in
    assert console_client.get("/console/").status_code == 302


def test_password_change_ends_other_sessions(
    console_app: Flask, console_client: FlaskClient, demo_session: Session
) -> None:
    """After a change the new password works, the demo flag is gone, other sessions end."""
    other = console_app.test_client()
    sign_in(other, "handler_civil")
    sign_in(console_client, "handler_civil")
    short = post_form(
        console_client,
        "/console/password",
        {"current": "zhitong-demo", "new": "short", "confirm": "short"},
    )
    assert short.status_code == 200 and "至少" in short.get_data(as_text=True)
    new = "a-much-longer-secret"
    changed = post_form(
        console_client, "/console/password", {"current": "zhitong-demo", "new": new, "confirm": new}
    )
    assert changed.status_code == 302
    assert console_client.get("/console/").status_code == 200
    assert other.get("/console/").status_code == 302
    assert agent(demo_session, "handler_civil").is_demo is False
    assert sign_in(console_app.test_client(), "handler_civil", new).status_code == 302


def test_login_is_rate_limited(console_client: FlaskClient) -> None:
    """Past 20 attempts a minute from one address the form answers 429."""
    token = csrf_token(console_client)
    statuses = [
        console_client.post(
            "/console/login", data={"username": "x", "password": "y", "csrf_token": token}
        ).status_code
        for _ in range(21)
    ]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429


def test_next_parameter_stays_on_this_site(console_client: FlaskClient) -> None:
    """?next= may name a path here, never another host."""
    token = csrf_token(console_client)
    data = {"username": "supervisor", "password": "zhitong-demo", "csrf_token": token}
    response = console_client.post("/console/login?next=//evil.example/", data=data)
    assert response.location.endswith("/console/")
