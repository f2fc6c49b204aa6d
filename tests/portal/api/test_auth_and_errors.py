"""Tokens, roles, and the one JSON error format for every failure (never a 500 for bad input)."""

from __future__ import annotations

import pytest
import time_machine

from portal.accounts.models import ApiToken, Role
from portal.accounts.token_services import revoke_api_token
from portal.audit.services import Actor
from portal.db import db
from tests.portal.api.conftest import error_of


def test_no_token_is_a_401_with_a_bearer_challenge(acme, api_as):
    response = api_as(None).get("/seats")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize("header", ["Bearer smt_not-a-token", "Basic dXNlcjpwYXNz", "Bearer ", "smt_x"])
def test_a_bad_token_is_a_401(acme, api_as, header):
    response = api_as(None).get("/catalog", headers={"Authorization": header})

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_a_revoked_token_is_a_401(acme, make_token, api_as):
    raw = make_token(Role.CLIENT_ADMIN, acme)
    api = api_as(raw)
    assert api.get("/seats").status_code == 200
    revoke_api_token(Actor.system("tests"), db.session.query(ApiToken).one())
    db.session.commit()

    assert api.get("/seats").status_code == 401


def test_a_token_use_is_remembered(acme, acme_api):
    acme_api.get("/catalog")

    assert db.session.query(ApiToken).one().last_used_at is not None


def _token_writes(statements: list[str]) -> int:
    return sum(1 for s in statements if s.lstrip().upper().startswith("UPDATE API_TOKENS"))


def test_a_busy_token_records_its_use_once_a_minute(acme, acme_api, count_queries):
    with time_machine.travel("2026-11-02T12:00:00Z", tick=False) as clock:
        with count_queries() as statements:
            for _ in range(10):
                clock.shift(5)
                assert acme_api.get("/catalog").status_code == 200
        assert _token_writes(statements) == 1

        clock.shift(60)
        with count_queries() as later:
            assert acme_api.get("/catalog").status_code == 200
        assert _token_writes(later) == 1

    db.session.expire_all()
    last_used = db.session.query(ApiToken).one().last_used_at
    assert last_used is not None and last_used.isoformat().startswith("2026-11-02T12:01:50")


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        (Role.RESELLER_STAFF, "post", "/orders", {"client": "acme", "product": "desktop", "quantity": 1}),
        (Role.RESELLER_STAFF, "post", "/end-users", {"client": "acme", "name": "A", "email": "a@acme.com"}),
        (Role.RESELLER_STAFF, "post", "/clients", {"ref": "newco", "name": "New Co"}),
        (Role.RESELLER_STAFF, "delete", "/seats/1?client=acme", None),
        (Role.CLIENT_ADMIN, "post", "/clients", {"ref": "newco", "name": "New Co"}),
        (Role.CLIENT_ADMIN, "get", "/clients", None),
        (Role.CLIENT_USER, "post", "/orders", {"product": "desktop", "quantity": 1}),
        (Role.CLIENT_USER, "get", "/end-users", None),
        (Role.CLIENT_USER, "post", "/seats/1/unassign", None),
        (Role.CLIENT_USER, "delete", "/seats/1", None),
    ],
)
def test_roles_that_may_not_are_a_403_and_nothing_happens(acme, make_token, api_as, role, method, path, body):
    api = api_as(make_token(role, None if role.is_reseller else acme))
    response = api.post(path, body) if method == "post" else getattr(api, method)(path)

    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


def test_reseller_staff_can_read(acme, make_seats, make_token, api_as):
    make_seats(acme, quantity=2)
    api = api_as(make_token(Role.RESELLER_STAFF))

    assert len(api.get("/seats?client=acme").get_json()["seats"]) == 2
    assert api.get("/end-users?client=acme").status_code == 200
    assert api.get("/clients").status_code == 200


def test_unknown_paths_and_wrong_methods_are_json(acme_api):
    missing = acme_api.get("/no-such-thing")
    wrong_method = acme_api.http.put("/api/v1/catalog")

    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert error_of(wrong_method)["code"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]


def test_web_pages_still_answer_html_errors(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        "not json",
        '{"product": "desktop", "quantity": NaN}',
        '{"product": "desktop", "product": "voip", "quantity": 1}',
        "[" * 100_000 + "]" * 100_000,
        b"\xff\xfe\x00garbage",
    ],
)
def test_malformed_json_is_a_400(acme_api, raw):
    response = acme_api.post("/orders", raw=raw)

    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"product": "desktop", "quantity": "3"}, "quantity"),
        ({"product": "desktop", "quantity": 3.0}, "quantity"),
        ({"product": "desktop", "quantity": True}, "quantity"),
        ({"product": "desktop", "quantity": None}, "quantity"),
        ({"product": 7, "quantity": 1}, "product"),
        ({"product": "desktop", "quantity": 1, "end_users": "12"}, "end_users"),
        ({"product": "desktop", "quantity": 1, "colour": "red"}, "colour"),
    ],
)
def test_wrong_types_and_unknown_fields_are_a_400_naming_the_field(acme_api, body, field):
    response = acme_api.post("/orders", body)

    assert response.status_code == 400
    assert field in error_of(response)["fields"]


def test_a_number_too_large_for_a_float_is_a_wrong_type(acme_api):
    response = acme_api.post("/orders", raw='{"product": "desktop", "quantity": 1e400}')

    assert response.status_code == 400
    assert "quantity" in error_of(response)["fields"]


def test_a_body_that_is_not_an_object_is_a_400(acme_api):
    response = acme_api.post("/orders", [1, 2])

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"product": "desktop"}, "quantity"),
        ({"quantity": 2}, "product"),
        ({"product": "desktop", "quantity": 0}, "quantity"),
        ({"product": "desktop", "quantity": 501}, "quantity"),
        ({"product": "desktop", "quantity": 10**40}, "quantity"),
        ({"product": "no-such-product", "quantity": 1}, "product"),
        ({"product": "desk\u0000top", "quantity": 1}, "product"),
        ({"product": "desktop", "quantity": 1, "end_users": [2**40]}, "end_users"),
        ({"product": "desktop", "quantity": 1, "end_users": [999999]}, "end_users"),
        ({"product": "desktop", "quantity": 1, "end_users": [5, 5]}, "end_users"),
    ],
)
def test_missing_and_out_of_range_values_are_a_422_naming_the_field(acme_api, body, field):
    response = acme_api.post("/orders", body)

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid"
    assert field in error["fields"]


def test_strings_that_the_database_cannot_store_are_refused(acme_api):
    lone_surrogate = '{"name": "\\ud800", "email": "x@acme.com"}'
    nul = {"name": "Ann\u0000", "email": "ann@acme.com"}

    assert acme_api.post("/end-users", raw=lone_surrogate).status_code == 422
    assert acme_api.post("/end-users", nul).status_code == 422


def test_ids_too_large_to_exist_are_a_404(acme_api):
    assert acme_api.get(f"/seats/{2**70}").status_code == 404
    assert acme_api.delete(f"/end-users/{2**31}").status_code == 404


def test_a_reseller_token_must_name_the_client(reseller_api):
    response = reseller_api.get("/seats")

    assert response.status_code == 422
    assert "client" in error_of(response)["fields"]


@pytest.mark.parametrize("ref", ["nobody", "NOT A REF", "x" * 300, "a\u0000b"])
def test_an_unknown_client_is_a_404(reseller_api, acme, ref):
    response = reseller_api.get("/seats", query_string={"client": ref})

    assert response.status_code == 404


def test_body_and_query_naming_different_clients_is_a_422(reseller_api, acme, bright):
    response = reseller_api.post(
        "/orders?client=bright", {"client": "acme", "product": "desktop", "quantity": 1}
    )

    assert response.status_code == 422


def test_the_api_needs_no_csrf_token_even_when_the_web_forms_do(app, acme_api):
    app.config["WTF_CSRF_ENABLED"] = True

    response = acme_api.post("/orders", {"product": "desktop", "quantity": 1})
    web_form = acme_api.http.post("/login", data={"email": "a@b.example", "password": "x"})

    assert response.status_code == 201
    assert web_form.status_code == 400


def test_answers_are_not_cached(acme_api):
    assert acme_api.get("/seats").headers["Cache-Control"] == "no-store"
