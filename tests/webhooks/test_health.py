"""`GET /healthz` and the landing page."""

from __future__ import annotations

from flask.testing import FlaskClient

from cases import migrate
from cases.settings import Settings, load_settings
from webhooks.app import create_app
from webhooks.extensions import build_services


def client_for(settings: Settings, *, migrated: bool = True) -> FlaskClient:
    """A test client on an app built from `settings` (schema migrated unless told not to)."""
    services = build_services(settings)
    if migrated:
        migrate.upgrade(services.engine)
    return create_app(settings, services).test_client()


def test_healthz_green_in_embedded_mode(settings: Settings) -> None:
    """A migrated SQLite database and the embedded queue report ok."""
    response = client_for(settings).get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "revision": migrate.heads()[0], "up_to_date": True}
    assert body["queue"]["mode"] == "embedded" and body["queue"]["ok"] is True


def test_healthz_unavailable_before_migration(settings: Settings) -> None:
    """An empty database is reported as not up to date, with 503."""
    response = client_for(settings, migrated=False).get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"]["up_to_date"] is False


def test_healthz_reports_unreachable_redis(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A configured Redis that does not answer makes the queue unhealthy, not a 500."""
    settings = load_settings(
        instance_path=tmp_path, redis_url="redis://127.0.0.1:1/0", secret_key="x"
    )
    response = client_for(settings).get("/healthz")
    assert response.status_code == 503
    queue = response.get_json()["queue"]
    assert queue["ok"] is False and queue["mode"] == "redis" and queue["error"]


def test_healthz_on_real_redis_and_postgres(tmp_path, redis_url: str, postgres_url: str) -> None:  # type: ignore[no-untyped-def]
    """Production mode against the real servers reports both green."""
    settings = load_settings(
        instance_path=tmp_path, redis_url=redis_url, database_url=postgres_url, secret_key="x"
    )
    client = client_for(settings)
    try:
        response = client.get("/healthz")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["queue"]["mode"] == "redis"
    finally:
        client.application.extensions["zhitong"].close()


def test_landing_page_is_chinese_and_links_health(settings: Settings) -> None:
    """The landing page speaks Chinese and points to the health check."""
    response = client_for(settings).get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'lang="zh-CN"' in html and "/healthz" in html


def test_the_site_icon_is_served(settings: Settings) -> None:
    """/favicon.ico answers (a 404 there was an error in every page's browser console)."""
    response = create_app(settings).test_client().get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert "max-age" in response.headers["Cache-Control"]
