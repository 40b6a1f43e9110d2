"""Property-based checks of the running API against its own OpenAPI document (schemathesis).

Every operation gets a few generated requests, valid (positive) and invalid (negative), sent with a
real key to the live server: no answer may be a server error, and every answer must match the
status codes, content types and schemas the document declares. Examples are few so the suite stays
fast; the point is breadth. Operations are parametrised from the app's document at collection
time, and a test checks that the server serves exactly that document.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serving.app import create_app
from serving.settings import Settings
from tests.support.live_server import LiveServer, Tenant

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("COPYLOOP_FUZZ_EXAMPLES", "5"))

DOCUMENT: dict[str, Any] = create_app(Settings(backend="fake")).openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = sorted(f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items() for method in item)


@pytest.fixture(scope="module")
def fuzz_tenant(server: LiveServer) -> Tenant:
    """The workspace the generated requests work in."""
    return server.tenant()


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[requests.Session]:
    """One connection pool for every generated request."""
    with requests.Session() as session:
        yield session


def test_the_server_serves_the_document_under_test(server: LiveServer) -> None:
    served = requests.get(f"{server.base_url}/openapi.json", timeout=10).json()
    assert served["paths"].keys() == DOCUMENT["paths"].keys()
    assert served == DOCUMENT | {"info": served["info"]}


@pytest.mark.parametrize("label", OPERATIONS)
def test_every_answer_matches_the_document_and_none_is_a_server_error(
    label: str, server: LiveServer, fuzz_tenant: Tenant, http: requests.Session
) -> None:
    operation = SCHEMA.find_operation_by_label(label)
    assert operation is not None
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Case) -> None:
        case.call_and_validate(
            base_url=server.base_url,
            session=http,
            headers=fuzz_tenant.headers("admin"),
            checks=CHECKS,
            timeout=60,
        )

    check()
