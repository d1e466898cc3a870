"""The REST API: tokens, cases, transitions, catalog, areas, figures, errors, masking, limits."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cases.api_tokens import revoke_token
from cases.clock import Clock
from cases.db import make_session_factory
from cases.models import ApiToken, Case, CaseSubmission, Contact
from cases.models.cases import CaseStatus
from cases.models.messaging import AddressKind, Channel
from cases.settings import Settings
from tests.fixtures.api import (
    ALL_SCOPES,
    NOW,
    api_app,
    bearer,
    client,
    make_token,
    open_demo_case,
    rate,
    resolve,
)
from webhooks.api.auth import rate_key
from webhooks.api.openapi import OPERATIONS
from webhooks.api.ratelimit import never_raising
from webhooks.app import create_app
from webhooks.extensions import Services
from worker.queue import redis_connection

__all__ = ["api_app", "client"]

# 200 KB of JSON nested deeper than the parser's recursion limit.
DEEP_LIST = b"[" * 100_000 + b"]" * 100_000
NEW_CASE = {
    "item_code": "infra_streetlight",
    "description": "东门社区路口路灯不亮，联系电话 13800138000",
    "area_code": "chengguan.dongmen",
    "phone": "13800138000",
    "name": "张三丰",
}


def test_openapi_document_lists_every_api_route(api_app: Flask, client: FlaskClient) -> None:
    """Each /api route of the app is in the OpenAPI document with its method, and only those."""
    routes = {
        (method.lower(), rule.rule.replace("<", "{").replace(">", "}"))
        for rule in api_app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    document = client.get("/api/openapi.json").get_json()
    documented = {
        (method, path) for path, operations in document["paths"].items() for method in operations
    }
    assert routes == documented
    assert {(op.method, op.path) for op in OPERATIONS} == documented
    assert document["openapi"].startswith("3.1")


def test_requests_without_a_token_are_refused(client: FlaskClient) -> None:
    """No token, a malformed one or an unknown one: 401 with a JSON error and a stable code."""
    for headers in ({}, bearer("nonsense"), bearer("zt_" + "x" * 43)):
        response = client.get("/api/cases", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "invalid_token"
        assert "Bearer" in response.headers["WWW-Authenticate"]


def test_revoked_token_is_refused(client: FlaskClient, demo_session: Session) -> None:
    """A revoked token stops working at once."""
    secret = make_token(demo_session)
    assert client.get("/api/catalog", headers=bearer(secret)).status_code == 200
    revoke_token(demo_session, secret[:11], NOW)
    demo_session.commit()
    assert client.get("/api/catalog", headers=bearer(secret)).status_code == 401


def test_token_secret_is_stored_hashed(demo_session: Session) -> None:
    """Only a hash of the secret is kept; the prefix shown is not enough to use it."""
    secret = make_token(demo_session)
    stored = demo_session.scalars(select(ApiToken)).one()
    assert secret not in (stored.secret_hash, stored.prefix)
    assert secret.startswith(stored.prefix) and len(stored.prefix) < 16


def test_create_case_opens_routes_and_records_the_submission(
    client: FlaskClient, demo_session: Session
) -> None:
    """POST /api/cases opens an accepted case in the village, with contact and Location."""
    secret = make_token(demo_session)
    response = client.post("/api/cases", json=NEW_CASE, headers=bearer(secret))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "accepted" and body["status_name"] == "已受理"
    assert body["channel"] == "api" and body["area"]["code"] == "chengguan.dongmen"
    assert body["contact"] == {"name": "张三丰", "phone": "+8613800138000"}
    assert response.headers["Location"].endswith(f"/api/cases/{body['number']}")
    case = demo_session.scalars(select(Case)).one()
    assert demo_session.get(Contact, case.contact_id).phone == "+8613800138000"  # type: ignore[union-attr]
    assert demo_session.scalars(select(CaseSubmission)).one().case_id == case.id


def test_personal_data_is_masked_without_the_permission(
    client: FlaskClient, demo_session: Session
) -> None:
    """Without personal_data the phone, the name and numbers in the text are masked."""
    secret = make_token(demo_session, "cases:read,cases:write")
    body = client.post("/api/cases", json=NEW_CASE, headers=bearer(secret)).get_json()
    assert body["personal_data"] is False
    assert body["contact"] == {"name": "张**", "phone": "138****8000"}
    assert "13800138000" not in str(body) and "138****8000" in body["description"]


def test_a_web_chat_contact_has_no_phone(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """A web-chat resident's address (a token digest) is never given out as a phone number,
    masked or not; before, it came back as "0415****6540"."""
    contact = Contact(kind=AddressKind.WEB, address="web:0415a9c3e2b16540", name="")
    demo_session.add(contact)
    demo_session.flush()
    case = open_demo_case(demo_session, clock, channel=Channel.WEB, contact_id=contact.id)
    demo_session.commit()
    for scopes in (ALL_SCOPES, "cases:read"):
        secret = make_token(demo_session, scopes)
        body = client.get(f"/api/cases/{case.number}", headers=bearer(secret)).get_json()
        assert body["contact"] is None, body["contact"]


def test_personal_data_is_masked_outside_the_tokens_area(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """A town token with personal_data cannot see another town's cases at all."""
    case = open_demo_case(demo_session, clock, place="dongao.yugang")
    demo_session.commit()
    secret = make_token(demo_session, ALL_SCOPES, area="chengguan")
    assert client.get(f"/api/cases/{case.number}", headers=bearer(secret)).status_code == 404
    listed = client.get("/api/cases", headers=bearer(secret)).get_json()
    assert listed["items"] == []


def test_create_case_outside_the_tokens_area_is_forbidden(
    client: FlaskClient, demo_session: Session
) -> None:
    """A token limited to one town may not open cases in another."""
    secret = make_token(demo_session, "cases:write", area="dongao")
    response = client.post("/api/cases", json=NEW_CASE, headers=bearer(secret))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_missing_scope_is_forbidden(client: FlaskClient, demo_session: Session) -> None:
    """A read-only token cannot open cases or change them."""
    secret = make_token(demo_session, "cases:read")
    assert client.post("/api/cases", json=NEW_CASE, headers=bearer(secret)).status_code == 403
    response = client.post(
        "/api/cases/202611230001/transitions", json={"action": "accept"}, headers=bearer(secret)
    )
    assert response.status_code == 403


def test_bad_bodies_are_4xx_with_field_details(client: FlaskClient, demo_session: Session) -> None:
    """Unknown fields, unknown items or areas, bad phones, non-JSON: clear 4xx, never 5xx."""
    headers = bearer(make_token(demo_session))
    cases = [
        ({**NEW_CASE, "colour": "red"}, 422, "colour"),
        ({**NEW_CASE, "item_code": "nope"}, 422, "item_code"),
        ({**NEW_CASE, "area_code": "nowhere"}, 422, "area_code"),
        ({**NEW_CASE, "phone": "12"}, 422, "phone"),
        ({**NEW_CASE, "description": "   "}, 422, "description"),
        ([1, 2], 422, None),
    ]
    for body, status, field in cases:
        response = client.post("/api/cases", json=body, headers=headers)
        assert response.status_code == status, (body, response.get_json())
        error = response.get_json()["error"]
        assert error["code"] == "validation_error"
        if field:
            assert field in {detail["field"] for detail in error.get("details", [])}
    raw = client.post("/api/cases", data="{", content_type="application/json", headers=headers)
    assert raw.status_code == 400 and raw.get_json()["error"]["code"] == "bad_request"
    for deep in (DEEP_LIST, b'{"item_code": ' + DEEP_LIST + b"}", b"\xff{}"):
        refused = client.post(
            "/api/cases", data=deep, content_type="application/json", headers=headers
        )
        assert refused.status_code == 400, refused.get_data(as_text=True)[:200]
        assert refused.get_json()["error"]["code"] == "bad_request"
    number = "/api/cases/202611230001/transitions"
    deep_transition = client.post(
        number, data=DEEP_LIST, content_type="application/json", headers=headers
    )
    assert deep_transition.status_code == 400
    form = client.post("/api/cases", data={"a": "b"}, headers=headers)
    assert form.status_code == 415


def test_list_filters_and_cursor_pages(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Cases come newest first in pages; the cursor walks them all once; filters apply."""
    numbers = [open_demo_case(demo_session, clock).number for _ in range(5)]
    other = open_demo_case(demo_session, clock, item="env_garbage", place="dongao.yugang")
    demo_session.commit()
    headers = bearer(make_token(demo_session))
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2, "item_code": "infra_streetlight"} | (
            {"cursor": cursor} if cursor else {}
        )
        page = client.get("/api/cases", query_string=query, headers=headers).get_json()
        seen += [case["number"] for case in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(numbers, reverse=True)
    by_area = client.get("/api/cases?area=dongao", headers=headers).get_json()["items"]
    assert [case["number"] for case in by_area] == [other.number]
    by_status = client.get("/api/cases?status=resolved,closed", headers=headers).get_json()
    assert by_status["items"] == []


def test_bad_query_parameters_are_422(client: FlaskClient, demo_session: Session) -> None:
    """A bad limit, status, date or cursor is a 422 naming the parameter."""
    headers = bearer(make_token(demo_session))
    for query, field in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("status=lost", "status"),
        ("received_from=yesterday", "received_from"),
        ("cursor=@@@", "cursor"),
        ("updated_since=2026-11-01T00:00:00", "updated_since"),
    ]:
        response = client.get(f"/api/cases?{query}", headers=headers)
        assert response.status_code == 422, query
        assert field in {d["field"] for d in response.get_json()["error"]["details"]}


def test_get_case_accepts_written_forms_of_the_number(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """A case is found by its number with prefix or dashes; its history is included."""
    case = open_demo_case(demo_session, clock)
    demo_session.commit()
    headers = bearer(make_token(demo_session))
    written = f"ZT-{case.number[:8]}-{case.number[8:]}"
    body = client.get(f"/api/cases/{written}", headers=headers).get_json()
    assert body["number"] == case.number
    assert [entry["action"] for entry in body["history"]] == ["create", "accept"]
    assert client.get("/api/cases/12345", headers=headers).status_code == 404


def test_transitions_follow_the_lifecycle(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Sign is refused from accepted (409); resolve then close work; history records them."""
    case = open_demo_case(demo_session, clock)
    demo_session.commit()
    headers = bearer(make_token(demo_session))
    url = f"/api/cases/{case.number}/transitions"
    refused = client.post(url, json={"action": "sign"}, headers=headers)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "transition_not_allowed"
    no_note = client.post(url, json={"action": "resolve"}, headers=headers)
    assert no_note.status_code == 422 and no_note.get_json()["error"]["code"] == "action_refused"
    resolved = client.post(url, json={"action": "resolve", "note": "已更换灯泡"}, headers=headers)
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"
    rated = client.post(url, json={"action": "rate", "score": 1}, headers=headers).get_json()
    assert rated["status"] == "rated" and "close" in rated["allowed_actions"]
    stale = client.post(url, json={"action": "close", "version": 1}, headers=headers)
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "conflict"
    closed = client.post(url, json={"action": "close"}, headers=headers).get_json()
    assert closed["status"] == "closed"
    assert closed["history"][-1]["action"] == "close"


def test_escalate_and_dispatch_move_the_case(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Escalate sends the case up a level; dispatch needs a known unit code."""
    case = open_demo_case(demo_session, clock)
    demo_session.commit()
    headers = bearer(make_token(demo_session))
    url = f"/api/cases/{case.number}/transitions"
    unit_before = client.get(f"/api/cases/{case.number}", headers=headers).get_json()["unit"]
    escalated = client.post(url, json={"action": "escalate"}, headers=headers).get_json()
    assert escalated["status"] == "escalated" and escalated["unit"] != unit_before
    unknown = client.post(url, json={"action": "dispatch", "unit_code": "nope"}, headers=headers)
    assert unknown.status_code == 422
    dispatched = client.post(
        url, json={"action": "dispatch", "unit_code": unit_before["code"]}, headers=headers
    ).get_json()
    assert dispatched["status"] == "dispatched" and dispatched["unit"] == unit_before


def test_catalog_and_areas(client: FlaskClient, demo_session: Session) -> None:
    """Catalog items and areas are listed for any valid token; an unknown item is 404."""
    headers = bearer(make_token(demo_session, "cases:read"))
    items = client.get("/api/catalog", headers=headers).get_json()["items"]
    assert len(items) == 41 and {"code", "name", "time_limit"} <= set(items[0])
    one = client.get("/api/catalog/infra_streetlight", headers=headers).get_json()
    assert one["code"] == "infra_streetlight" and one["name"]
    assert client.get("/api/catalog/nope", headers=headers).status_code == 404
    towns = client.get("/api/areas?level=town", headers=headers).get_json()["items"]
    assert {town["code"] for town in towns} == {"chengguan", "dongao", "qingshan", "heping"}
    villages = client.get("/api/areas?parent=dongao", headers=headers).get_json()["items"]
    assert all(area["parent_code"] == "dongao" for area in villages) and villages


def test_figures_come_from_the_dashboard_metrics(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """GET /api/figures gives the month's counts and rates; other months are empty."""
    first = open_demo_case(demo_session, clock)
    open_demo_case(demo_session, clock)
    resolve(demo_session, first, clock, NOW - __import__("datetime").timedelta(days=1))
    rate(demo_session, first, clock, NOW, 2)
    demo_session.commit()
    headers = bearer(make_token(demo_session, "figures:read"))
    body = client.get("/api/figures?period=2026-11", headers=headers).get_json()
    assert (body["received"], body["accepted"], body["resolved"]) == (2, 2, 1)
    assert body["rates"]["resolution_rate"] == 0.5 and body["rates"]["satisfaction_rate"] == 1.0
    assert body["area"]["code"] == "qingxi"
    empty = client.get("/api/figures?period=2026-01", headers=headers).get_json()
    assert empty["received"] == 0 and empty["rates"]["resolution_rate"] is None
    assert client.get("/api/figures?period=2026-13", headers=headers).status_code == 422


def test_rate_limit_is_per_token(
    api_app: Flask, client: FlaskClient, demo_session: Session
) -> None:
    """Past the limit a token gets 429 in JSON; another token is unaffected."""
    api_app.config["API_RATE_LIMIT"] = "3 per minute"
    first, second = make_token(demo_session), make_token(demo_session)
    statuses = [client.get("/api/catalog", headers=bearer(first)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/api/catalog", headers=bearer(first))
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    assert limited.headers.get("Retry-After")
    assert client.get("/api/catalog", headers=bearer(second)).status_code == 200


def test_bodies_the_limiter_cannot_read_count_against_the_address(
    api_app: Flask, client: FlaskClient
) -> None:
    """A form body over the size limit names no token: counted per address, not unlimited."""
    api_app.config["API_RATE_LIMIT"] = "2 per minute"
    huge = b"api_key=zt_x&pad=" + b"x" * (3 * 1024 * 1024)
    statuses = [
        client.post(
            "/api/cases", data=huge, content_type="application/x-www-form-urlencoded"
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [413, 413, 429]
    with api_app.test_request_context(
        "/api/cases",
        method="POST",
        data=huge,
        content_type="application/x-www-form-urlencoded",
        environ_base={"REMOTE_ADDR": "10.7.7.7"},
    ):
        assert rate_key() == "addr:10.7.7.7"


def test_a_failing_key_function_counts_by_address(api_app: Flask) -> None:
    """Whatever a key function raises, the limiter gets the address instead of no limit."""

    def broken() -> str:
        raise RecursionError("maximum recursion depth exceeded")

    with api_app.test_request_context("/api/cases", environ_base={"REMOTE_ADDR": "10.8.8.8"}):
        assert never_raising(broken)() == "addr:10.8.8.8"
        assert never_raising(broken, lambda: "fallback")() == "fallback"
        assert never_raising(lambda: "token:abc")() == "token:abc"


def test_unknown_paths_and_methods_are_json(client: FlaskClient) -> None:
    """Routing errors under /api/ are JSON too."""
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong = client.delete("/api/cases")
    assert wrong.status_code == 405 and wrong.get_json()["error"]["code"] == "method_not_allowed"


def test_status_names_cover_every_status() -> None:
    """Every lifecycle status has its Chinese name for residents and reports."""
    from worker.reports import STATUS_NAMES

    assert set(STATUS_NAMES) == set(CaseStatus)


def test_rate_limit_storage_follows_the_settings(settings: Settings) -> None:
    """Memory in embedded mode; the configured Redis (unix sockets too) in production."""
    from webhooks.api.ratelimit import storage_uri

    def services_with(redis_url: str) -> Services:
        return Services(
            settings.model_copy(update={"redis_url": redis_url}), None, None, None, None
        )  # type: ignore[arg-type]

    assert storage_uri(services_with("")) == "memory://"
    assert storage_uri(services_with("redis://127.0.0.1:6379/0")) == "redis://127.0.0.1:6379/0"
    assert storage_uri(services_with("unix:///run/redis.sock")) == "redis+unix:///run/redis.sock"


def test_rate_limit_is_shared_through_redis(
    settings: Settings, engine: Engine, demo_session: Session, clock: Clock, redis_url: str
) -> None:
    """With ZHITONG_REDIS_URL two web processes share one count per token."""
    shared = settings.model_copy(update={"redis_url": redis_url})
    apps = [
        create_app(
            shared,
            Services(shared, engine, make_session_factory(engine), redis_connection(shared), clock),
        )
        for _ in range(2)
    ]
    for app in apps:
        app.config["API_RATE_LIMIT"] = "3 per minute"
    headers = bearer(make_token(demo_session))
    statuses = [
        apps[i % 2].test_client().get("/api/catalog", headers=headers).status_code for i in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
