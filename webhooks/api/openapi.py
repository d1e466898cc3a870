"""The OpenAPI 3.1 document of the REST API, built from the operation table and the models.

Every route of the `api` blueprint has a row in `OPERATIONS` (a test holds them in step), and
every schema comes from the pydantic models the views validate and serialise with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from cases.api_tokens import SCOPES
from webhooks.api.schemas import (
    AreaList,
    AreaQuery,
    CaseCreate,
    CaseDetail,
    CaseListQuery,
    CasePage,
    CaseTransition,
    CatalogItemOut,
    CatalogList,
    ErrorOut,
    FiguresOut,
    FiguresQuery,
    item_codes,
)

API_VERSION = "1.0.0"
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    """One row of the API: method, path (OpenAPI form), what it takes and gives."""

    method: str
    path: str
    endpoint: str
    summary: str
    scope: str | None  # None: any valid token; "" for no token at all
    response: type[BaseModel] | None
    status: int = 200
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = (401, 403, 422, 429)


OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/api/openapi.json", "api.openapi", "This document", "", None, errors=()),
    Operation(
        "get",
        "/api/cases",
        "api.list_cases",
        "List cases in the token's area (newest first, cursor paging)",
        "cases:read",
        CasePage,
        query=CaseListQuery,
    ),
    Operation(
        "post",
        "/api/cases",
        "api.create_case",
        "Open a case on a resident's behalf",
        "cases:write",
        CaseDetail,
        status=201,
        body=CaseCreate,
        errors=(400, 401, 403, 413, 415, 422, 429),
    ),
    Operation(
        "get",
        "/api/cases/{number}",
        "api.get_case",
        "One case with its history",
        "cases:read",
        CaseDetail,
        errors=(401, 403, 404, 429),
    ),
    Operation(
        "post",
        "/api/cases/{number}/transitions",
        "api.change_case",
        "Take a lifecycle action (accept, dispatch, resolve, …)",
        "cases:transition",
        CaseDetail,
        body=CaseTransition,
        errors=(400, 401, 403, 404, 409, 413, 415, 422, 429),
    ),
    Operation(
        "get",
        "/api/catalog",
        "api.list_catalog",
        "The service catalog",
        None,
        CatalogList,
        errors=(401, 429),
    ),
    Operation(
        "get",
        "/api/catalog/{code}",
        "api.get_catalog_item",
        "One catalog item",
        None,
        CatalogItemOut,
        errors=(401, 404, 429),
    ),
    Operation(
        "get",
        "/api/areas",
        "api.list_areas",
        "The county's areas",
        None,
        AreaList,
        query=AreaQuery,
        errors=(401, 422, 429),
    ),
    Operation(
        "get",
        "/api/figures",
        "api.figures",
        "Headline figures of a month (办结率, 按时办结率, 一次办结率, 满意率, 回访率)",
        "figures:read",
        FiguresOut,
        query=FiguresQuery,
    ),
)

_ERROR_TEXT = {
    400: "Malformed request (e.g. a body that is not JSON)",
    401: "Missing, unknown or revoked token",
    403: "The token lacks the permission or the area",
    404: "No such resource within the token's area",
    409: "Not allowed from the case's status, or the case changed meanwhile",
    413: "Body too large",
    415: "Body is not JSON",
    422: "Invalid input; `details` names each field",
    429: "Too many requests for this token",
}


@cache
def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (built once per process)."""
    models = _models()
    keys, definitions = models_json_schema(
        [(model, mode) for model, mode in models], ref_template=_REF
    )
    schemas = definitions.get("$defs", {})
    refs = {model: keys[(model, mode)]["$ref"] for model, mode in models}
    case_create = schemas.get(refs[CaseCreate].rsplit("/", 1)[-1])
    if case_create is not None:
        case_create["properties"]["item_code"]["enum"] = sorted(item_codes())
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method] = _operation(operation, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "直通 Zhitong API",
            "version": API_VERSION,
            "description": (
                "Cases, catalog, areas and headline figures of the county's resident-service "
                "intake, for integrations. Authenticate with `Authorization: Bearer zt_…` "
                "(tokens are made with `zhitong api token create`). Permissions: "
                + "; ".join(f"`{scope}` — {text}" for scope, text in SCOPES.items())
                + '. Errors are `{"error": {"code", "message", "details"}}`.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "zt_…"}
            },
        },
    }


def _models() -> list[tuple[type[BaseModel], Any]]:
    models: list[tuple[type[BaseModel], Any]] = [(ErrorOut, "serialization")]
    for operation in OPERATIONS:
        if operation.response is not None:
            models.append((operation.response, "serialization"))
        if operation.body is not None:
            models.append((operation.body, "validation"))
    return list(dict.fromkeys(models))


def _operation(operation: Operation, refs: dict[type[BaseModel], str]) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "OK" if operation.status == 200 else "Created"}
    if operation.response is not None:
        success["content"] = {"application/json": {"schema": {"$ref": refs[operation.response]}}}
    else:
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    if operation.status == 201:
        success["headers"] = {
            "Location": {"description": "The new case", "schema": {"type": "string"}}
        }
    responses: dict[str, Any] = {str(operation.status): success}
    for status in operation.errors:
        responses[str(status)] = {
            "description": _ERROR_TEXT[status],
            "content": {"application/json": {"schema": {"$ref": refs[ErrorOut]}}},
        }
    body: dict[str, Any] = {
        "operationId": operation.endpoint.removeprefix("api."),
        "summary": operation.summary,
        "responses": responses,
    }
    if operation.scope == "":
        body["security"] = []
    elif operation.scope:
        body["description"] = f"Needs the `{operation.scope}` permission."
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_names(operation.path)
    ]
    if operation.query is not None:
        parameters += _query_parameters(operation.query)
    if parameters:
        body["parameters"] = parameters
    if operation.body is not None:
        body["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": refs[operation.body]}}},
        }
    return body


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        options = [p for p in prop.pop("anyOf", []) if p.get("type") != "null"]
        if options:
            prop = {**options[0], **{k: v for k, v in prop.items() if k != "default"}}
        if "$ref" in prop:  # an enum: inline it, query parameters stand alone
            target = schema.get("$defs", {}).get(prop.pop("$ref").rsplit("/", 1)[-1], {})
            prop = {**{k: v for k, v in target.items() if k != "title"}, **prop}
        prop.pop("default", None)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": False}
        if description:
            parameter["description"] = description
        parameter["schema"] = prop
        parameters.append(parameter)
    return parameters
