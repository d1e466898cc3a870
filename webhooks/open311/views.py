"""Open311 GeoReport v2 endpoints, so existing Open311 clients can submit and follow requests.

Catalog items are the services (service_code = item code). A request is a case; its
service_request_id is the case number. Status is "open" or "closed", with the Chinese status in
status_notes. POST needs an `api_key` (a Zhitong token with `cases:write`); GETs need none, and
then list only what the public page lists one by one (`webhooks.public.listed_publicly`) and
show no resident's text: descriptions and addresses only to a key with `cases:read`, names and
numbers only to one with `personal_data` covering the case. A key that is sent must be valid.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Response, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from bot.gazetteer import AreaGazetteer, AreaRow
from bot.masking import mask_sensitive_text
from cases.api_tokens import require_scope, shows_personal_data, token_case_scope
from cases.exceptions import NotFoundError
from cases.lifecycle import OPEN_STATUSES
from cases.models import ApiToken, Area, Case, CaseSubmission, Department
from cases.models.cases import CaseStatus
from intents.catalog import CatalogItem, catalog
from webhooks.api import context
from webhooks.api.auth import current_token, optional_token
from webhooks.api.bodies import parse_json
from webhooks.api.errors import ApiProblem, register_handlers
from webhooks.api.intake import Submission, submit_case
from webhooks.extensions import get_db, services
from webhooks.open311 import bp
from webhooks.open311.formats import render, render_problem
from webhooks.public import listed_publicly
from worker.reports import STATUS_NAMES

register_handlers(bp, render_problem)

FORMAT = "<any(json,xml):fmt>"
MAX_REQUESTS = 1000  # per answer, as the specification suggests
DEFAULT_WINDOW = dt.timedelta(days=90)
AREA_ATTRIBUTE = "AREA"
_ATTRIBUTE_KEY = re.compile(r"^attribute\[([A-Za-z0-9_.\-]{1,64})\]$")
_CLOSED = {"resolved", "rated", "closed", "rejected", "merged"}


class RequestForm(BaseModel):
    """The fields of POST requests, as the GeoReport v2 specification names them."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    service_code: str = Field(min_length=1, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str = Field(default="", max_length=255)
    address_id: str = Field(default="", max_length=64)
    email: str = Field(default="", max_length=255)
    device_id: str = Field(default="", max_length=64)
    account_id: str = Field(default="", max_length=64)
    first_name: str = Field(default="", max_length=64)
    last_name: str = Field(default="", max_length=64)
    phone: str = Field(default="", max_length=32)
    description: str = Field(default="", max_length=4000)
    media_url: str = Field(default="", max_length=500)
    attributes: dict[str, str] = Field(default_factory=dict)

    @field_validator("service_code")
    @classmethod
    def _known_service(cls, value: str) -> str:
        if value not in {item.code for item in catalog().items}:
            raise ValueError(f"unknown service_code {value!r}; see services.json")
        return value

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str) -> str:
        if value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError("not an e-mail address")
        return value

    @field_validator("media_url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if value and not re.match(r"^https?://\S+$", value):
            raise ValueError("media_url must be an http(s) address")
        return value

    @model_validator(mode="after")
    def _located(self) -> RequestForm:
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long go together")
        located = self.address_string or self.address_id or self.attributes.get(AREA_ATTRIBUTE)
        if self.lat is None and not located:
            raise ValueError("give lat & long, address_string, address_id or attribute[AREA]")
        return self


@bp.get(f"/discovery.{FORMAT}")
def discovery(fmt: str) -> Response:
    """Where this endpoint is and what it speaks."""
    base = request.url_root.rstrip("/") + "/open311/v2/"
    return render(
        "discovery",
        {
            "changeset": "2026-11-01T00:00:00+08:00",
            "contact": "县民情服务中心 12345",
            "key_service": "zhitong api token create (county operators)",
            "endpoints": [
                {
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": base,
                    "changeset": "2026-11-01T00:00:00+08:00",
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


@bp.get(f"/services.{FORMAT}")
def list_services(fmt: str) -> Response:
    """Every catalog item as an Open311 service."""
    return render("services", [_service(item) for item in catalog().items])


@bp.get(f"/services/<code>.{FORMAT}")
def service_definition(code: str, fmt: str) -> Response:
    """A service's definition: its one optional attribute, the area it concerns."""
    item = _item(code)
    session = get_db()
    areas = session.scalars(
        select(Area).where(Area.level.in_(("town", "village"))).order_by(Area.path)
    )
    values = [{"key": area.code, "name": area.name} for area in areas]
    attribute = {
        "variable": True,
        "code": AREA_ATTRIBUTE,
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "村/社区或乡镇代码 (area code)",
        "order": 1,
        "description": "问题所在村(社区)或乡镇 — where the problem is",
        "values": values,
    }
    return render("definition", {"service_code": item.code, "attributes": [attribute]})


@bp.post(f"/requests.{FORMAT}")
def create_request(fmt: str) -> Response:
    """Submit a service request; answers its service_request_id and token."""
    token = current_token("cases:write")
    form = _request_form()
    session = get_db()
    submission = _submission(session, token, form)
    case, record = submit_case(
        session, token, submission, now=context.now(), clock=services().clock
    )
    session.commit()
    entry = {
        "service_request_id": case.number,
        "token": record.token,
        "service_notice": _notice(catalog().item(case.item_code)),
        "account_id": form.account_id or None,
    }
    return render("requests", [entry])


@bp.get(f"/requests.{FORMAT}")
def list_requests(fmt: str) -> Response:
    """Requests by id, service, status and dates; the last 90 days, at most 1000."""
    token = optional_token()
    session = get_db()
    conditions = [*_request_filters(), _visible_to(session, token)]
    cases = list(
        session.scalars(
            select(Case)
            .where(and_(*conditions))
            .order_by(Case.received_at.desc(), Case.id.desc())
            .limit(MAX_REQUESTS)
        )
    )
    return render("requests", _requests(session, cases, token))


@bp.get(f"/requests/<request_id>.{FORMAT}")
def get_request(request_id: str, fmt: str) -> Response:
    """One request, as a list of one (as the specification has it)."""
    token = optional_token()
    session = get_db()
    visible = _visible_to(session, token)
    case = session.scalars(select(Case).where(Case.number == request_id, visible)).first()
    if case is None:
        raise NotFoundError(f"no service request {request_id!r}")
    return render("requests", _requests(session, [case], token))


@bp.get(f"/tokens/<token_id>.{FORMAT}")
def get_token(token_id: str, fmt: str) -> Response:
    """The service_request_id that a POST's token stands for."""
    session = get_db()
    found = session.execute(
        select(CaseSubmission.token, Case.number)
        .join(Case, Case.id == CaseSubmission.case_id)
        .where(CaseSubmission.token == token_id)
    ).first()
    if found is None:
        raise NotFoundError(f"no request token {token_id!r}")
    return render("requests", [{"service_request_id": found.number, "token": found.token}])


@bp.before_request
def _check_presented_key() -> None:
    """A key that is sent must be valid, on every endpoint: a bad one is a 403, never ignored."""
    optional_token()


def _visible_to(session: Session, token: ApiToken | None) -> ColumnElement[bool]:
    """The cases a GET may show: a key's area, or without a key what the public page lists.

    That someone applied for 低保 or an 独生子女父母光荣证, or has a family dispute, is
    personal even without a name: without a key such cases are not listed (nor found by id).
    """
    if token is None:
        return listed_publicly()
    require_scope(token, "cases:read")
    return token_case_scope(session, token)


def _service(item: CatalogItem) -> dict[str, Any]:
    return {
        "service_code": item.code,
        "service_name": item.zh,
        "description": item.summary.zh,
        "metadata": True,
        "type": "realtime",
        "keywords": item.en,
        "group": _category_name(item.category),
    }


def _category_name(code: str) -> str:
    from cases.service import category_name

    return category_name(code)


def _item(code: str) -> CatalogItem:
    try:
        return catalog().item(code)
    except KeyError:
        raise NotFoundError(f"no service {code!r}") from None


def _notice(item: CatalogItem) -> str:
    """What the resident is promised (the 两单制 receipt's time limit)."""
    if item.handling == "immediate":
        return "即办件：当日办结"
    if item.handling == "urgent":
        return f"急办件：{item.time_limit.hours}小时内处置"
    return f"承诺件：{item.time_limit.working_days}个工作日内办结"


def _request_form() -> RequestForm:
    """The POST fields from a form (as the specification sends them) or a JSON object."""
    if request.is_json:
        try:
            raw = parse_json(request.get_data(cache=True))
        except ValueError:  # not UTF-8, not JSON, nested too deeply
            raw = None
        if not isinstance(raw, dict):
            raise ApiProblem(400, "bad_request", "the body is not a JSON object")
        fields = {key: value for key, value in raw.items() if key != "attribute"}
        attributes = raw.get("attribute") if isinstance(raw.get("attribute"), dict) else {}
    else:
        fields = {key: value for key, value in request.form.items() if "[" not in key}
        attributes = {
            match.group(1): value
            for key, value in request.form.items()
            if (match := _ATTRIBUTE_KEY.match(key))
        }
    fields = {key: value for key, value in fields.items() if value not in ("", None)}
    try:
        return RequestForm.model_validate({**fields, "attributes": attributes})
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ApiProblem(
            400, "validation_error", f"{where}: {message}" if where else message
        ) from None


def _submission(session: Session, token: ApiToken, form: RequestForm) -> Submission:
    item = catalog().item(form.service_code)
    return Submission(
        item_code=form.service_code,
        description=form.description or item.zh,
        area_code=form.attributes.get(AREA_ATTRIBUTE)
        or _area_named_in(session, form.address_string),
        phone=form.phone or None,
        name=" ".join(part for part in (form.first_name, form.last_name) if part) or None,
        latitude=form.lat,
        longitude=form.long,
        address=form.address_string,
        address_id=form.address_id,
        media_url=form.media_url,
        email=form.email,
        device_id=form.device_id,
        account_id=form.account_id,
        first_name=form.first_name,
        last_name=form.last_name,
        attributes=dict(form.attributes),
    )


def _area_named_in(session: Session, address: str) -> str | None:
    """The village or town an address names, when exactly one is meant (else None)."""
    if not address:
        return None
    rows = session.execute(select(Area.id, Area.code, Area.name, Area.level, Area.parent_id))
    codes: dict[int, str] = {}
    gazetteer_rows = []
    for row in rows:
        codes[row.id] = row.code
        gazetteer_rows.append(AreaRow(row.id, row.name, str(row.level), row.parent_id))
    matches = [m for m in AreaGazetteer(gazetteer_rows).find(address) if not m.ambiguous]
    places = [m.areas[0] for m in matches if m.areas[0].level in {"village", "town", "grid"}]
    return codes[places[-1].id] if places else None


def _request_filters() -> list[Any]:
    args = request.args
    conditions: list[Any] = []
    if args.get("service_request_id"):
        ids = [part.strip() for part in args["service_request_id"].split(",") if part.strip()]
        conditions.append(Case.number.in_(ids[:MAX_REQUESTS]))
        return conditions  # the specification: other parameters are then ignored
    if args.get("service_code"):
        conditions.append(Case.item_code.in_([c.strip() for c in args["service_code"].split(",")]))
    status = args.get("status", "").strip().lower()
    if status:
        wanted = {part.strip() for part in status.split(",")}
        if not wanted <= {"open", "closed"}:
            raise ApiProblem(400, "validation_error", "status is open or closed")
        if wanted == {"open"}:
            conditions.append(Case.status.in_(OPEN_STATUSES))
        elif wanted == {"closed"}:
            conditions.append(Case.status.not_in(OPEN_STATUSES))
    end = _date_param("end_date") or context.now()
    start = _date_param("start_date") or end - DEFAULT_WINDOW
    conditions += [Case.received_at >= start, Case.received_at <= end]
    return conditions


def _date_param(name: str) -> dt.datetime | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiProblem(400, "validation_error", f"{name} is not a W3C date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=context.zone())


def _requests(session: Session, cases: list[Case], token: ApiToken | None) -> list[dict[str, Any]]:
    ids = [case.id for case in cases]
    submissions = (
        {
            s.case_id: s
            for s in session.scalars(select(CaseSubmission).where(CaseSubmission.case_id.in_(ids)))
        }
        if ids
        else {}
    )
    unit_ids = {case.department_id for case in cases if case.department_id}
    units = (
        {
            row.id: row.name
            for row in session.execute(
                select(Department.id, Department.name).where(Department.id.in_(unit_ids))
            )
        }
        if unit_ids
        else {}
    )
    return [_request_entry(session, case, submissions.get(case.id), units, token) for case in cases]


def _request_entry(
    session: Session,
    case: Case,
    submission: CaseSubmission | None,
    units: dict[int, str],
    token: ApiToken | None,
) -> dict[str, Any]:
    item = catalog().item(case.item_code)
    reader = token is not None and "cases:read" in token.scopes
    personal = shows_personal_data(session, token, case)
    description = (
        (case.description if personal else mask_sensitive_text(case.description))
        if reader
        else None
    )
    entry: dict[str, Any] = {
        "service_request_id": case.number,
        "status": "closed" if case.status.value in _CLOSED else "open",
        "status_notes": STATUS_NAMES[CaseStatus(case.status)],
        "service_name": item.zh,
        "service_code": case.item_code,
        "description": description,
        "agency_responsible": units.get(case.department_id) if case.department_id else None,
        "service_notice": _notice(item),
        "requested_datetime": context.local_iso(case.received_at),
        "updated_datetime": context.local_iso(case.updated_at),
        "expected_datetime": context.local_iso(case.due_at),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }
    if submission is not None and reader:  # where the resident is: only for a trusted key
        entry |= {
            "address": mask_sensitive_text(submission.address) or None,
            "address_id": submission.address_id or None,
            "zipcode": submission.zipcode or None,
            "lat": submission.latitude,
            "long": submission.longitude,
            "media_url": submission.media_url or None,
        }
    return entry
