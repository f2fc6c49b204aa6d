"""Fixtures for the JSON API: tokens of every role, and a test client that sends them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Client, EndUser, Role, User
from portal.accounts.token_services import create_api_token
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db
from portal.orders.models import Seat
from provisioning import place_order

TESTS = Actor.system("tests")


@dataclass
class Api:
    """Calls /api/v1 with one token (or none)."""

    http: FlaskClient
    token: str | None

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        sent = dict(headers or {})
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        return sent

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.http.get("/api/v1" + path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def post(
        self, path: str, body: Any = None, *, raw: str | bytes | None = None, **kwargs: Any
    ) -> TestResponse:
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        return self.http.post(
            "/api/v1" + path,
            data=data,
            content_type="application/json",
            headers=self._headers(kwargs.pop("headers", None)),
            **kwargs,
        )

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> TestResponse:
        return self.http.patch(
            "/api/v1" + path,
            data=None if body is None else json.dumps(body),
            content_type="application/json",
            headers=self._headers(kwargs.pop("headers", None)),
            **kwargs,
        )

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.http.delete(
            "/api/v1" + path, headers=self._headers(kwargs.pop("headers", None)), **kwargs
        )


@pytest.fixture
def make_token(app):
    def _make(role: Role, client: Client | None = None, person: User | None = None) -> str:
        token, raw = create_api_token(TESTS, f"{role.value} test token", role, client)
        if person is not None:
            token.created_by_id = person.id
        db.session.commit()
        return raw

    return _make


@pytest.fixture
def api_as(client: FlaskClient):
    def _api(token: str | None) -> Api:
        return Api(client, token)

    return _api


@pytest.fixture
def acme(make_client, catalog) -> Client:
    return make_client("acme", "Acme Law LLP")


@pytest.fixture
def bright(make_client, catalog) -> Client:
    return make_client("bright", "Bright Smile Dental")


@pytest.fixture
def acme_api(acme, make_token, api_as) -> Api:
    return api_as(make_token(Role.CLIENT_ADMIN, acme))


@pytest.fixture
def reseller_api(catalog, make_token, api_as) -> Api:
    return api_as(make_token(Role.RESELLER_ADMIN))


@pytest.fixture
def make_end_user(app):
    def _make(client: Client, name: str, email: str, extension: str | None = None) -> EndUser:
        end_user = add_end_user(TESTS, client, name, email, extension)
        db.session.commit()
        return end_user

    return _make


@pytest.fixture
def make_seats(app):
    def _make(client: Client, product: str = "desktop", quantity: int = 1, end_users=None) -> list[Seat]:
        order = place_order(TESTS, client, get_product(product), quantity, end_users)
        db.session.commit()
        return list(order.seats)

    return _make


def error_of(response: TestResponse) -> dict[str, Any]:
    """The error object of a JSON error response (checks the format on the way)."""
    assert response.is_json, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "fields"}
    return body["error"]
