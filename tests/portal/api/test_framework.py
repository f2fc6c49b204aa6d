"""The pieces other API modules build on: bodies, query parameters, documented operations."""

from __future__ import annotations

import pytest

from portal.api.bodies import Body, Integer, Query, Text
from portal.api.errors import ApiError
from portal.api.openapi import build_operation

PERIOD = Query(
    {
        "period": Text(description="YYYY-MM.", required=True, max_length=7, pattern=r"[0-9]{4}-[0-9]{2}"),
        "limit": Integer(description="How many.", minimum=1, maximum=100),
    }
)


def test_query_parameters_are_checked_and_converted(app):
    with app.test_request_context("/x?period=2026-10&limit=20"):
        assert PERIOD.parse() == {"period": "2026-10", "limit": 20}
    with app.test_request_context("/x?period=2026-10"):
        assert PERIOD.parse() == {"period": "2026-10"}


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/x", "period"),
        ("/x?period=oct", "period"),
        ("/x?period=2026-10&limit=ten", "limit"),
        ("/x?period=2026-10&limit=0", "limit"),
    ],
)
def test_bad_query_parameters_are_a_422_naming_them(app, url, field):
    with app.test_request_context(url), pytest.raises(ApiError) as raised:
        PERIOD.parse()

    assert raised.value.status == 422
    assert field in raised.value.fields


def _operation(**overrides):
    arguments = {
        "operation_id": "x",
        "method": "GET",
        "path_params": [],
        "summary": "x",
        "description": "",
        "tag": "x",
        "roles": ("reseller_admin",),
        "all_roles": False,
        "ok_status": 200,
        "ok_schema": None,
        "ok_description": "OK.",
        "body": None,
        "client_scoped": False,
        "idempotent": False,
        "conflict": None,
    }
    return build_operation(**{**arguments, **overrides})


def test_query_parameters_are_documented_with_their_422():
    operation = _operation(query=PERIOD)

    assert [parameter["name"] for parameter in operation["parameters"]] == ["period", "limit"]
    assert operation["parameters"][0]["required"] is True
    assert operation["parameters"][1]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100}
    assert set(operation["responses"]) == {"200", "401", "403", "422"}


def test_a_non_json_answer_is_documented_with_its_media_type():
    operation = _operation(ok_media_type="application/pdf")

    assert operation["responses"]["200"]["content"] == {"application/pdf": {"schema": {"type": "string"}}}


def test_a_post_documents_bad_requests_conflicts_and_the_idempotency_key():
    operation = _operation(method="POST", body=Body({"n": Integer(description="n")}), idempotent=True)

    assert set(operation["responses"]) == {"200", "400", "401", "403", "409", "422"}
    assert operation["parameters"] == [{"$ref": "#/components/parameters/IdempotencyKey"}]
    assert operation["requestBody"]["required"] is False
