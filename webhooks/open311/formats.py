"""Open311 GeoReport v2 answers in JSON or XML, as the request's suffix asks.

XML follows the specification's examples: a root element naming the collection
(`services`, `service_requests`, `errors`), one child per entry (`service`, `request`,
`error`), one element per field, empty for null.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

from flask import Response, request

from webhooks.api.errors import ApiProblem

# Root and entry element names per kind of answer.
XML_NAMES = {
    "services": ("services", "service"),
    "requests": ("service_requests", "request"),
    "errors": ("errors", "error"),
    "discovery": ("discovery", "endpoint"),
}
_SPEC_STATUS = {401: 403, 422: 400}
_LIST_ITEM = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def suffix() -> str:
    """The format the client asked for: "xml" for a .xml path, else "json"."""
    return "xml" if request.path.endswith(".xml") else "json"


def render(
    kind: str, entries: list[dict[str, Any]] | dict[str, Any], status: int = 200
) -> Response:
    """An answer of `kind` ("services", "requests", …) in the request's format."""
    if suffix() == "xml":
        body = _xml(kind, entries)
        return Response(body, status, content_type="text/xml; charset=utf-8")
    text = json.dumps(entries, ensure_ascii=False)
    return Response(text, status, content_type="application/json; charset=utf-8")


def render_problem(problem: ApiProblem) -> Response:
    """Errors as the specification lists them: [{"code": 403, "description": "…"}].

    GeoReport v2 knows 400 for bad input and 403 for a bad api_key, so a 422 becomes 400 and
    a 401 becomes 403 here.
    """
    status = _SPEC_STATUS.get(problem.status, problem.status)
    return render("errors", [{"code": status, "description": problem.message}], status)


def _xml(kind: str, entries: list[dict[str, Any]] | dict[str, Any]) -> bytes:
    if isinstance(entries, dict):  # a single object (service definition, discovery)
        root = ElementTree.Element("service_definition" if kind == "definition" else kind)
        _fill(root, entries)
    else:
        root_name, entry_name = XML_NAMES[kind]
        root = ElementTree.Element(root_name)
        for entry in entries:
            _fill(ElementTree.SubElement(root, entry_name), entry)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def _fill(element: ElementTree.Element, values: dict[str, Any]) -> None:
    for key, value in values.items():
        child = ElementTree.SubElement(element, key)
        _set(child, key, value)


def _set(element: ElementTree.Element, key: str, value: Any) -> None:
    if isinstance(value, dict):
        _fill(element, value)
    elif isinstance(value, list):
        for item in value:
            _set(ElementTree.SubElement(element, _LIST_ITEM.get(key, "item")), key, item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)
