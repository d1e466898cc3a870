"""JSON errors for the machine interfaces (REST API, Open311): a stable code and a message.

The one place where the domain's errors become HTTP status codes for them. Every bad input ends
here as a 4xx; a 5xx means a bug. Open311 renders the same `ApiProblem` in its own shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request
from pydantic import ValidationError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, default_exceptions

from cases.exceptions import (
    ActionRefusedError,
    CasesError,
    InvalidScopeError,
    InvalidTokenError,
    NotFoundError,
    PermissionDeniedError,
    RoutingError,
    TransitionError,
)

_STATUS_OF: dict[type[CasesError], tuple[int, str]] = {
    InvalidTokenError: (401, "invalid_token"),
    PermissionDeniedError: (403, "forbidden"),
    NotFoundError: (404, "not_found"),
    TransitionError: (409, "transition_not_allowed"),
    ActionRefusedError: (422, "action_refused"),
    RoutingError: (422, "routing_failed"),
    InvalidScopeError: (422, "validation_error"),
}


@dataclass(eq=False)  # not frozen: raising sets __traceback__ (contextlib, re-raises)
class ApiProblem(Exception):
    """An error answer: HTTP status, stable code, readable message, optional details."""

    status: int
    code: str
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


def invalid(message: str, field_name: str | None = None) -> ApiProblem:
    """A 422 for input that is well-formed but wrong (unknown code, bad cursor …)."""
    details = [{"field": field_name, "message": message}] if field_name else []
    return ApiProblem(422, "validation_error", message, details)


def problem_of(exc: BaseException) -> ApiProblem:
    """The answer for any error a machine view can raise; unknown errors are not handled here."""
    if isinstance(exc, ApiProblem):
        return exc
    if isinstance(exc, ValidationError):
        return _validation_problem(exc)
    if isinstance(exc, StaleDataError):
        return ApiProblem(409, "conflict", "the case was changed meanwhile; reload and retry")
    if isinstance(exc, CasesError):
        status, code = next(
            (value for kind, value in _STATUS_OF.items() if isinstance(exc, kind)),
            (422, "refused"),
        )
        return ApiProblem(status, code, str(exc))
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        return ApiProblem(status, _snake(exc.name), exc.description or exc.name)
    raise TypeError(f"no API answer for {type(exc).__name__}")


def json_error(problem: ApiProblem) -> Response:
    """The REST API's error body: {"error": {"code", "message", "details"}}."""
    body: dict[str, Any] = {"code": problem.code, "message": problem.message}
    if problem.details:
        body["details"] = problem.details
    response = jsonify({"error": body})
    response.status_code = problem.status
    if problem.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="zhitong"'
    return response


def register_handlers(
    target: Any, render: Callable[[ApiProblem], Response], *, http: bool = True
) -> None:
    """Route the domain's errors, validation errors and HTTP errors of `target` to `render`."""
    for kind in (ApiProblem, ValidationError, StaleDataError, CasesError):
        target.register_error_handler(kind, lambda exc: render(problem_of(exc)))
    if http:
        target.register_error_handler(HTTPException, lambda exc: render(problem_of(exc)))
        # An app-wide handler for one status code (the console's 429 page) would outrank a
        # blueprint's class handler, so the machine blueprints claim each code as well.
        for code in default_exceptions:
            target.register_error_handler(code, lambda exc: render(problem_of(exc)))


def init_app(app: Flask, prefix: str, render: Callable[[ApiProblem], Response]) -> None:
    """Answer routing errors (unknown path, wrong method) under `prefix` with `render`.

    Blueprint handlers never see these: no route matched, so no blueprint is known. Other
    paths keep whatever answer the app gives them.
    """
    renderers: dict[str, Callable[[ApiProblem], Response]] = app.extensions.setdefault(
        "zhitong_machine_errors", {}
    )
    renderers[prefix] = render

    def routing_error(exc: HTTPException) -> Response | HTTPException:
        for known, renderer in renderers.items():
            if request.path.startswith(known):
                return renderer(problem_of(exc))
        return exc

    app.register_error_handler(HTTPException, routing_error)


def _validation_problem(exc: ValidationError) -> ApiProblem:
    details = [
        {
            "field": ".".join(str(part) for part in error["loc"]) or None,
            "message": error["msg"],
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]
    first = details[0] if details else {"field": None, "message": "invalid input"}
    where = f"{first['field']}: " if first["field"] else ""
    return ApiProblem(422, "validation_error", f"{where}{first['message']}", details)


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
