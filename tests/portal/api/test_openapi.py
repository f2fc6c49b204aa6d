"""The OpenAPI document describes exactly the routes that exist, and the API behaves as it says
(checked by schemathesis, in-process through WSGI)."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.accounts.models import Role
from portal.api.openapi import DOCUMENT, PREFIX


def test_the_document_is_served_without_a_token(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_api_route_is_documented_and_every_documented_operation_exists(app, client):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX) and rule.endpoint != "api.openapi_document":
            path = re.sub(r"<(?:int:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {
        (method, path)
        for path, operations in client.get("/api/v1/openapi.json").get_json()["paths"].items()
        for method in operations
    }

    assert routes == documented


def test_every_post_documents_the_idempotency_key_and_every_operation_its_errors(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            parameters = [parameter.get("$ref", "") for parameter in operation.get("parameters", [])]
            if method == "post":
                assert "#/components/parameters/IdempotencyKey" in parameters, path
            assert "401" in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def known_ids(acme, make_end_user, make_seats):
    ann = make_end_user(acme, "Ann", "ann@acme.com")
    bob = make_end_user(acme, "Bob", "bob@acme.com", "202")
    seats = make_seats(acme, "desktop", 2, [ann]) + make_seats(acme, "voip", 1)
    return {"seat_id": [seat.id for seat in seats], "end_user_id": [ann.id, bob.id]}


OPERATIONS = [
    (method.upper(), path) for path, operations in DOCUMENT["paths"].items() for method in operations
]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _steer_to_real_objects(case, known_ids, data) -> None:
    """Random ids, client references and product codes almost never exist; point a valid case at
    real ones so that the success answers are checked too, not only the 404s and 422s."""
    for name, ids in known_ids.items():
        if name in (case.path_parameters or {}):
            case.path_parameters[name] = data.draw(st.sampled_from(ids))
    if case.query and "client" in case.query:
        case.query["client"] = "acme"
    if isinstance(case.body, dict):
        if "client" in case.body:
            case.body["client"] = "acme"
        if "product" in case.body:
            case.body["product"] = data.draw(st.sampled_from(["voip", "desktop", "exchange"]))
        if "end_user" in case.body:
            case.body["end_user"] = data.draw(st.sampled_from(known_ids["end_user_id"]))
        case.body.pop("end_users", None)


# schemathesis' own pytest integration (schema.parametrize) does not run under pytest 9 yet, so each
# operation gets a plain Hypothesis test drawing schemathesis' cases, valid and invalid ones.
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_api_behaves_as_its_openapi_document_says(app, acme, make_token, known_ids, method, path):
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)[path][method]
    # A reseller token for the reseller's routes, the client's own token for the client's.
    token = (
        make_token(Role.RESELLER_ADMIN)
        if path.endswith("/clients") or path.startswith(("/api/v1/usage-", "/api/v1/integrations/"))
        else make_token(Role.CLIENT_ADMIN, acme)
    )
    valid = operation.as_strategy(GenerationMode.POSITIVE)
    invalid = None
    if operation.path_parameters or operation.query or operation.headers or operation.body:
        invalid = operation.as_strategy(GenerationMode.NEGATIVE)

    @given(data=st.data())
    @settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def behaves_as_documented(data):
        if invalid is not None and data.draw(st.booleans()):
            case = data.draw(invalid)
        else:
            case = data.draw(valid)
            if data.draw(st.booleans()):
                _steer_to_real_objects(case, known_ids, data)
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    behaves_as_documented()
