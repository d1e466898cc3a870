"""The REST API's handlers: find or 404, check permission, change, commit, serialise."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, jsonify, request, url_for
from sqlalchemy import and_, select

from cases.api_tokens import token_area, token_case_scope, token_covers_area
from cases.exceptions import NotFoundError, PermissionDeniedError
from cases.metrics import Period, open_by_colour, totals
from cases.models import ApiToken, Area, Case
from cases.service import category_name
from intents.catalog import catalog
from webhooks.api import bp, context
from webhooks.api.auth import current_token
from webhooks.api.bodies import parse_json
from webhooks.api.errors import ApiProblem, invalid, json_error, register_handlers
from webhooks.api.intake import Submission, find_case, submit_case, transition_case
from webhooks.api.openapi import openapi_document
from webhooks.api.schemas import (
    AreaList,
    AreaOut,
    AreaQuery,
    CaseCreate,
    CaseListQuery,
    CasePage,
    CaseTransition,
    CatalogItemOut,
    CatalogList,
    FiguresOut,
    FiguresQuery,
    Place,
    RatesOut,
    TimeLimitOut,
    encode_cursor,
)
from webhooks.api.serialize import case_detail, case_page
from webhooks.extensions import get_db, services

register_handlers(bp, json_error)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API (no token needed)."""
    return jsonify(openapi_document())


@bp.get("/cases")
def list_cases() -> Response:
    """Cases inside the token's area, newest first, filtered, one page at a time."""
    token = current_token("cases:read")
    query = _query(CaseListQuery)
    session = get_db()
    conditions = [token_case_scope(session, token), *_filters(query)]
    cases = list(
        session.scalars(
            select(Case).where(and_(*conditions)).order_by(Case.id.desc()).limit(query.limit + 1)
        )
    )
    more = len(cases) > query.limit
    cases = cases[: query.limit]
    page = CasePage(
        items=case_page(session, cases, token),
        next_cursor=encode_cursor(cases[-1].id) if more else None,
    )
    return _json(page.model_dump(mode="json"))


@bp.post("/cases")
def create_case() -> tuple[Response, int, dict[str, str]]:
    """Open a case on a resident's behalf; 201 with the case and its Location."""
    token = current_token("cases:write")
    body = CaseCreate.model_validate(_json_body())
    session = get_db()
    case, _ = submit_case(
        session,
        token,
        Submission(**body.model_dump()),
        now=context.now(),
        clock=services().clock,
    )
    session.commit()
    location = url_for("api.get_case", number=case.number)
    return (
        _json(case_detail(session, case, token).model_dump(mode="json")),
        201,
        {"Location": location},
    )


@bp.get("/cases/<number>")
def get_case(number: str) -> Response:
    """One case with its history."""
    token = current_token("cases:read")
    session = get_db()
    case = find_case(session, token, number)
    return _json(case_detail(session, case, token).model_dump(mode="json"))


@bp.post("/cases/<number>/transitions")
def change_case(number: str) -> Response:
    """Take one lifecycle action (accept, resolve, …) on a case."""
    token = current_token("cases:transition")
    body = CaseTransition.model_validate(_json_body())
    session = get_db()
    case = find_case(session, token, number)
    transition_case(session, token, case, body, now=context.now(), clock=services().clock)
    session.commit()
    return _json(case_detail(session, case, token).model_dump(mode="json"))


@bp.get("/catalog")
def list_catalog() -> Response:
    """Every service and concern the county handles."""
    current_token()
    items = [_catalog_item(item.code) for item in catalog().items]
    return _json(CatalogList(items=items).model_dump(mode="json"))


@bp.get("/catalog/<code>")
def get_catalog_item(code: str) -> Response:
    """One catalog item."""
    current_token()
    if code not in {item.code for item in catalog().items}:
        raise NotFoundError(f"no catalog item {code!r}")
    return _json(_catalog_item(code).model_dump(mode="json"))


@bp.get("/areas")
def list_areas() -> Response:
    """The county's areas (county, towns, villages, grids), optionally one level or parent."""
    current_token()
    query = _query(AreaQuery)
    session = get_db()
    statement = select(Area).order_by(Area.path)
    if query.level is not None:
        statement = statement.where(Area.level == query.level)
    if query.parent is not None:
        parent = session.scalars(select(Area).where(Area.code == query.parent)).first()
        if parent is None:
            raise invalid(f"no area with code {query.parent!r}", "parent")
        statement = statement.where(Area.parent_id == parent.id)
    areas = list(session.scalars(statement))
    codes = {area.id: area.code for area in session.scalars(select(Area))}
    items = [
        AreaOut(
            code=area.code,
            name=area.name,
            name_en=area.name_en,
            level=area.level,
            parent_code=codes.get(area.parent_id) if area.parent_id else None,
        )
        for area in areas
    ]
    return _json(AreaList(items=items).model_dump(mode="json"))


@bp.get("/figures")
def figures() -> Response:
    """The headline figures (办结率, 按时办结率, 一次办结率, 满意率, 回访率) of a month."""
    token = current_token("figures:read")
    query = _query(FiguresQuery)
    session = get_db()
    area = _figures_area(token, query.area)
    year, month = _period(query.period)
    period = Period.month(year, month, context.zone())
    counts = totals(session, period, area_id=area.id)
    colours = open_by_colour(session, area_id=area.id)
    body = FiguresOut(
        period=f"{year:04d}-{month:02d}",
        area=Place(code=area.code, name=area.name),
        received=counts.received,
        accepted=counts.accepted,
        resolved=counts.resolved,
        on_time=counts.on_time,
        first_time=counts.first_time,
        rated=counts.rated,
        ratings=counts.ratings,
        satisfied=counts.satisfied,
        rates=RatesOut(
            resolution_rate=counts.resolution_rate,
            on_time_rate=counts.on_time_rate,
            first_time_rate=counts.first_time_rate,
            satisfaction_rate=counts.satisfaction_rate,
            callback_rate=counts.callback_rate,
        ),
        open_by_colour=colours,
    )
    return _json(body.model_dump(mode="json"))


def _figures_area(token: ApiToken, code: str | None) -> Area:
    session = get_db()
    if code is None:
        return token_area(session, token)
    area = session.scalars(select(Area).where(Area.code == code)).first()
    if area is None:
        raise invalid(f"no area with code {code!r}", "area")
    if not token_covers_area(session, token, area):
        raise PermissionDeniedError(f"area {code!r} lies outside this token's area")
    return area


def _period(text: str | None) -> tuple[int, int]:
    if text is None:
        today = context.now().astimezone(context.zone())
        return today.year, today.month
    year, month = text.split("-")
    return int(year), int(month)


def _filters(query: CaseListQuery) -> list[Any]:
    zone = context.zone()
    conditions: list[Any] = []
    if query.statuses():
        conditions.append(Case.status.in_(query.statuses()))
    if query.item_code:
        conditions.append(Case.item_code == query.item_code)
    if query.category:
        conditions.append(Case.category_code == query.category)
    if query.channel:
        conditions.append(Case.channel == query.channel)
    if query.area:
        area = get_db().scalars(select(Area).where(Area.code == query.area)).first()
        if area is None:
            raise invalid(f"no area with code {query.area!r}", "area")
        inside = select(Area.id).where(Area.path.startswith(area.path))
        conditions.append(Case.area_id.in_(inside) | Case.town_id.in_(inside))
    if query.received_from:
        conditions.append(Case.received_at >= _day_start(query.received_from, zone))
    if query.received_to:
        conditions.append(Case.received_at < _day_start(query.received_to, zone, 1))
    if query.updated_since:
        conditions.append(Case.updated_at >= query.updated_since)
    try:
        after = query.after_id()
    except ValueError as exc:
        raise invalid(str(exc), "cursor") from None
    if after is not None:
        conditions.append(Case.id < after)
    return conditions


def _day_start(day: dt.date, zone: ZoneInfo, offset: int = 0) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=offset), dt.time(), zone)


def _catalog_item(code: str) -> CatalogItemOut:
    item = catalog().item(code)
    try:
        department_name = catalog().department(item.department).zh
    except KeyError:
        department_name = item.department
    return CatalogItemOut(
        code=item.code,
        name=item.zh,
        name_en=item.en,
        category=item.category,
        category_name=category_name(item.category),
        kind=item.kind,
        handling=item.handling,
        time_limit=TimeLimitOut(
            working_days=item.time_limit.working_days, hours=item.time_limit.hours
        ),
        level=item.level,
        department=item.department,
        department_name=department_name,
        materials=[material.zh for material in item.materials],
        fees=item.fees.zh,
        summary=item.summary.zh,
    )


def _query(model: Any) -> Any:
    """Query parameters validated by `model` (a 422 naming the parameter when wrong)."""
    return model.model_validate(request.args.to_dict())


def _json_body() -> dict[str, Any]:
    """The request's JSON object, or a 4xx saying what is wrong with it."""
    if not request.is_json:
        raise ApiProblem(415, "unsupported_media_type", "send a JSON body (application/json)")
    try:
        body = parse_json(request.get_data(cache=True))
    except UnicodeDecodeError:
        raise ApiProblem(400, "bad_request", "the body must be UTF-8 JSON") from None
    except ValueError:
        raise ApiProblem(400, "bad_request", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("the body must be a JSON object")
    return body


def _json(body: Any) -> Response:
    return jsonify(body)
