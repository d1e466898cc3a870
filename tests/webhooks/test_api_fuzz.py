"""The REST API against its own OpenAPI document (schemathesis): no 5xx, no off-schema answer.

Every operation of the served document gets generated requests, valid ones and invalid ones
(wrong types, missing fields, values out of range), sent with a token of every permission.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from sqlalchemy.orm import Session

from tests.fixtures.api import api_app, make_token

__all__ = ["api_app"]

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 20


def test_api_conforms_to_its_openapi_document(api_app: Flask, demo_session: Session) -> None:
    """Generated requests never get a 5xx or an answer the document does not describe."""
    headers = {"Authorization": f"Bearer {make_token(demo_session)}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", api_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    strategies = st.one_of(
        operation.as_strategy(mode)
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    )

    @given(case=strategies)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION * len(operations),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    call()
