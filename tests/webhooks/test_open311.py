"""Open311 GeoReport v2: the specification's example requests and response fields, JSON and XML."""

from __future__ import annotations

from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.clock import Clock
from cases.models import Area, Case, CaseSubmission, Contact
from tests.fixtures.api import NOW, api_app, client, make_token, open_demo_case, resolve

__all__ = ["api_app", "client"]

# The specification's POST example, field for field; the service code and phone are the
# county's own (a catalog item, a Chinese mobile), the place is named in the address.
SPEC_POST = {
    "jurisdiction_id": "qingxi",
    "service_code": "infra_road",
    "lat": "37.76524078",
    "long": "-122.4212043",
    "address_string": "城关镇东门社区 5号路口",
    "email": "smit333@sfgov.edu",
    "device_id": "tt222111",
    "account_id": "123456",
    "first_name": "john",
    "last_name": "smith",
    "phone": "13800138000",
    "description": "A large sinkhole is destroying the street",
    "media_url": "http://media.sfgov.edu/requests/123456.jpg",
    "attribute[WHISETN]": "123",
}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


def post_form(client: FlaskClient, fields: dict[str, str], suffix: str = "json") -> object:
    """POST form-encoded fields, as Open311 clients do."""
    return client.post(
        f"/open311/v2/requests.{suffix}",
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
    )


def test_services_list_in_json_and_xml(client: FlaskClient) -> None:
    """services.json and services.xml list every catalog item with the spec's fields."""
    services = client.get("/open311/v2/services.json").get_json()
    assert len(services) == 41
    assert set(services[0]) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    xml = client.get("/open311/v2/services.xml")
    assert xml.content_type.startswith("text/xml")
    root = ElementTree.fromstring(xml.data)
    assert root.tag == "services" and len(root.findall("service")) == 41
    assert root.find("service/metadata").text == "true"  # type: ignore[union-attr]


def test_service_definition_offers_the_area_attribute(client: FlaskClient) -> None:
    """services/{code}.json has the AREA attribute with villages and towns as values."""
    definition = client.get("/open311/v2/services/infra_streetlight.json").get_json()
    assert definition["service_code"] == "infra_streetlight"
    (attribute,) = definition["attributes"]
    assert attribute["code"] == "AREA" and attribute["datatype"] == "singlevaluelist"
    assert {"key": "chengguan.dongmen", "name": "东门社区"} in attribute["values"]
    xml = ElementTree.fromstring(client.get("/open311/v2/services/infra_streetlight.xml").data)
    assert xml.tag == "service_definition"
    assert xml.find("attributes/attribute/code").text == "AREA"  # type: ignore[union-attr]
    missing = client.get("/open311/v2/services/nope.json")
    assert missing.status_code == 404 and missing.get_json()[0]["code"] == 404


def test_post_request_as_in_the_specification(client: FlaskClient, demo_session: Session) -> None:
    """The spec's POST opens a case in the village the address names; answers id and token."""
    key = make_token(demo_session, "cases:write,cases:read")
    response = post_form(client, {"api_key": key, **SPEC_POST})
    assert response.status_code == 200, response.get_data(as_text=True)  # type: ignore[attr-defined]
    (answer,) = response.get_json()  # type: ignore[attr-defined]
    assert set(answer) == {"service_request_id", "token", "service_notice", "account_id"}
    assert answer["account_id"] == "123456" and "工作日" in answer["service_notice"]
    case = demo_session.scalars(select(Case)).one()
    assert case.number == answer["service_request_id"] and case.channel == "api"
    assert case.description == SPEC_POST["description"]
    assert case.area_id is not None
    submission = demo_session.scalars(select(CaseSubmission)).one()
    assert (submission.latitude, submission.longitude) == (37.76524078, -122.4212043)
    assert submission.email == "smit333@sfgov.edu" and submission.attributes == {"WHISETN": "123"}
    assert demo_session.get(Contact, case.contact_id).name == "john smith"  # type: ignore[union-attr]
    demo_session.rollback()  # SQLite: end the read transaction before the app writes
    followed = client.get(f"/open311/v2/tokens/{answer['token']}.json").get_json()
    assert followed == [{"service_request_id": case.number, "token": answer["token"]}]


def test_post_request_in_xml_names_the_area_by_attribute(
    client: FlaskClient, demo_session: Session
) -> None:
    """requests.xml answers in XML; attribute[AREA] places the case."""
    key = make_token(demo_session, "cases:write")
    fields = {
        "api_key": key,
        "service_code": "env_garbage",
        "address_string": "村口",
        "attribute[AREA]": "dongao.yugang",
    }
    response = post_form(client, fields, "xml")
    root = ElementTree.fromstring(response.data)  # type: ignore[attr-defined]
    assert root.tag == "service_requests"
    number = root.find("request/service_request_id").text  # type: ignore[union-attr]
    case = demo_session.scalars(select(Case).where(Case.number == number)).one()
    assert case.description == "垃圾清运与环境卫生" or case.description


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"service_code": "infra_streetlight", "address_string": "x"}, 403, "token"),
        (
            {"api_key": "zt_wrong", "service_code": "infra_streetlight", "lat": "1", "long": "2"},
            403,
            "API token",
        ),
        ({"service_code": "nope", "lat": "1", "long": "2"}, 400, "service_code"),
        ({"service_code": "infra_streetlight"}, 400, "address_string"),
        ({"service_code": "infra_streetlight", "lat": "100", "long": "2"}, 400, "lat"),
        ({"service_code": "infra_streetlight", "lat": "1"}, 400, "long"),
        (
            {"service_code": "infra_streetlight", "lat": "1", "long": "2", "phone": "111111111"},
            400,
            "phone",
        ),
        (
            {"service_code": "infra_streetlight", "lat": "1", "long": "2", "email": "x"},
            400,
            "e-mail",
        ),
    ],
)
def test_post_errors_in_the_specifications_shape(
    client: FlaskClient, demo_session: Session, fields: dict[str, str], status: int, words: str
) -> None:
    """Bad submissions answer [{"code": …, "description": …}] with a 4xx."""
    if "api_key" not in fields and status != 403:
        fields = {"api_key": make_token(demo_session, "cases:write"), **fields}
    response = post_form(client, fields)
    assert response.status_code == status  # type: ignore[attr-defined]
    (error,) = response.get_json()  # type: ignore[attr-defined]
    assert error["code"] == status and words in error["description"]


def test_post_needs_the_write_permission(client: FlaskClient, demo_session: Session) -> None:
    """A read-only key may not submit: 403 in XML for a .xml request."""
    key = make_token(demo_session, "cases:read")
    response = post_form(client, {"api_key": key, **SPEC_POST}, "xml")
    assert response.status_code == 403  # type: ignore[attr-defined]
    root = ElementTree.fromstring(response.data)  # type: ignore[attr-defined]
    assert root.tag == "errors" and root.find("error/code").text == "403"  # type: ignore[union-attr]


def test_get_requests_fields_status_and_privacy(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Requests carry the spec's fields; open/closed with Chinese notes; no text without a key."""
    open_case_ = open_demo_case(demo_session, clock)
    done = open_demo_case(demo_session, clock, item="env_garbage")
    resolve(demo_session, done, clock, NOW)
    demo_session.commit()
    public = client.get("/open311/v2/requests.json").get_json()
    assert {entry["service_request_id"] for entry in public} == {open_case_.number, done.number}
    by_id = {entry["service_request_id"]: entry for entry in public}
    assert set(by_id[done.number]) == REQUEST_FIELDS
    assert by_id[done.number]["status"] == "closed"
    assert by_id[done.number]["status_notes"] == "已办结"
    assert by_id[open_case_.number]["status"] == "open"
    assert by_id[open_case_.number]["status_notes"] == "已受理"
    assert all(entry["description"] is None for entry in public)
    assert by_id[done.number]["requested_datetime"].endswith("+08:00")
    key = make_token(demo_session, "cases:read")
    keyed = client.get(f"/open311/v2/requests.json?api_key={key}").get_json()
    assert all("138****8000" in entry["description"] for entry in keyed)
    closed = client.get("/open311/v2/requests.json?status=closed").get_json()
    assert [entry["service_request_id"] for entry in closed] == [done.number]
    by_code = client.get("/open311/v2/requests.json?service_code=env_garbage").get_json()
    assert [entry["service_request_id"] for entry in by_code] == [done.number]


def test_get_single_request_and_unknowns(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """requests/{id}.json is a list of one; unknown ids, tokens and bad dates are 4xx."""
    case = open_demo_case(demo_session, clock)
    demo_session.commit()
    single = client.get(f"/open311/v2/requests/{case.number}.json").get_json()
    assert [entry["service_request_id"] for entry in single] == [case.number]
    xml = ElementTree.fromstring(client.get(f"/open311/v2/requests/{case.number}.xml").data)
    assert xml.find("request/status").text == "open"  # type: ignore[union-attr]
    assert client.get("/open311/v2/requests/1.json").status_code == 404
    assert client.get("/open311/v2/tokens/nope.json").status_code == 404
    assert client.get("/open311/v2/requests.json?start_date=yesterday").status_code == 400
    assert client.get("/open311/v2/requests.json?status=lost").status_code == 400
    assert client.get("/open311/v2/requests.csv").status_code == 404
    old = client.get("/open311/v2/requests.json?end_date=2026-01-01T00:00:00Z").get_json()
    assert old == []


def test_discovery(client: FlaskClient) -> None:
    """discovery.json names the GeoReport v2 endpoint and its formats."""
    body = client.get("/open311/v2/discovery.json").get_json()
    assert body["endpoints"][0]["url"].endswith("/open311/v2/")
    assert "text/xml" in body["endpoints"][0]["formats"]


def listed(client: FlaskClient, query: str = "") -> set[str]:
    """The service_request_ids GET requests.json lists."""
    response = client.get(f"/open311/v2/requests.json{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return {entry["service_request_id"] for entry in response.get_json()}


def test_without_a_key_only_public_matters_are_listed(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """No key: personal services and disputes are neither listed nor found, as on /public/."""
    road = open_demo_case(demo_session, clock, item="infra_road")
    hazard = open_demo_case(demo_session, clock, item="safety_fire_hazard", place="dongao.yugang")
    personal = [
        open_demo_case(demo_session, clock, item=item)
        for item in ("fp_only_child", "social_minimum_living", "dispute_family")
    ]
    demo_session.commit()
    assert listed(client) == {road.number, hazard.number}
    numbers = ",".join(case.number for case in personal)
    assert listed(client, f"?service_request_id={numbers}") == set()
    assert listed(client, "?service_code=fp_only_child") == set()
    for case in personal:
        assert client.get(f"/open311/v2/requests/{case.number}.json").status_code == 404
        assert client.get(f"/open311/v2/requests/{case.number}.xml").status_code == 404
    assert client.get(f"/open311/v2/requests/{road.number}.json").status_code == 200
    # A key's area applies as before: the county sees everything, a town only its own.
    county = make_token(demo_session, "cases:read")
    everything = {road.number, hazard.number, *(case.number for case in personal)}
    assert listed(client, f"?api_key={county}") == everything
    town = make_token(demo_session, "cases:read", area="chengguan")
    assert listed(client, f"?api_key={town}") == everything - {hazard.number}
    only_child = personal[0].number
    single = client.get(f"/open311/v2/requests/{only_child}.json?api_key={county}")
    assert single.status_code == 200
    outside = client.get(f"/open311/v2/requests/{hazard.number}.json?api_key={town}")
    assert outside.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "requests.json?api_key=zt_bogus",
        "requests.json?api_key=&api_key=zt_bogus",
        "requests/202611210001.xml?api_key=bogus",
        "services.json?api_key=zt_bogus",
        "services/infra_road.xml?api_key=zt_bogus",
        "discovery.json?api_key=bogus",
        "tokens/nope.json?api_key=zt_bogus",
    ],
)
def test_a_bad_key_on_get_is_refused(client: FlaskClient, path: str) -> None:
    """A GET with a bad api_key is a 403 in the spec's shape, never silently keyless."""
    response = client.get(f"/open311/v2/{path}")
    assert response.status_code == 403
    if path.split("?")[0].endswith(".json"):
        (error,) = response.get_json()
        assert error["code"] == 403 and "API token" in error["description"]


def test_post_placed_by_the_area_attribute_alone(
    client: FlaskClient, demo_session: Session
) -> None:
    """attribute[AREA] is enough to place a request, as documented; an unknown area is a 400."""
    key = make_token(demo_session, "cases:write")
    fields = {"api_key": key, "service_code": "env_garbage", "attribute[AREA]": "dongao.yugang"}
    response = post_form(client, fields)
    assert response.status_code == 200, response.get_data(as_text=True)  # type: ignore[attr-defined]
    (answer,) = response.get_json()  # type: ignore[attr-defined]
    case = demo_session.scalars(select(Case).where(Case.number == answer["service_request_id"]))
    placed = case.one()
    yugang = demo_session.scalars(select(Area).where(Area.code == "dongao.yugang")).one()
    assert placed.area_id == yugang.id
    demo_session.rollback()  # SQLite: end the read transaction before the app writes
    as_json = client.post(
        "/open311/v2/requests.json",
        json={"service_code": "env_garbage", "attribute": {"AREA": "dongao.yugang"}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert as_json.status_code == 200, as_json.get_data(as_text=True)
    unknown = post_form(client, {**fields, "attribute[AREA]": "nowhere"})
    assert unknown.status_code == 400  # type: ignore[attr-defined]


def test_unreadable_json_posts_are_400(client: FlaskClient, demo_session: Session) -> None:
    """A JSON body nested too deeply (or not UTF-8) is bad input, not a server error."""
    headers = {"Authorization": f"Bearer {make_token(demo_session, 'cases:write')}"}
    for data in (b"[" * 100_000 + b"]" * 100_000, b"\xff{}"):
        response = client.post(
            "/open311/v2/requests.json", data=data, content_type="application/json", headers=headers
        )
        assert response.status_code == 400
        assert response.get_json()[0]["code"] == 400
