"""Callers of every kind for tests that walk the URL map: anonymous, a logged-in person of each
role, an API token of each role."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask, g
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.accounts.integration_services import create_integration, create_integration_token
from portal.accounts.models import Client, Role, User
from portal.accounts.token_services import create_api_token
from portal.audit.services import Actor
from portal.auth.access import Access, Via
from portal.db import db
from tests.conftest import TEST_PASSWORD

TESTS = Actor.system("tests")


@dataclass(frozen=True)
class Caller:
    label: str
    via: Via | None  # None: anonymous
    role: Role | None


ANONYMOUS = Caller("anonymous", None, None)
PEOPLE = tuple(
    Caller(f"{role.value} (logged in)", Via.SESSION, role) for role in Role if role is not Role.INTEGRATION
)
TOKENS = tuple(Caller(f"{role.value} token", Via.TOKEN, role) for role in Role)
CALLERS = (ANONYMOUS, *PEOPLE, *TOKENS)


def may_pass(access: Access, method: str, caller: Caller) -> bool:
    """Whether the route's declaration lets ``caller`` past authorization."""
    if access.via is Via.ANYONE:
        return True
    return caller.via is access.via and caller.role in access.roles_for(method)


def to_login(response: TestResponse) -> bool:
    """A redirect to the login page that carries ``next``: what the role check answers anonymous
    callers (a view's own redirect to /login, e.g. after a finished second step, carries none)."""
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    location = urlsplit(response.headers.get("Location", ""))
    return location.path == "/login" and "next" in parse_qs(location.query)


def refused(response: TestResponse) -> bool:
    return response.status_code in (401, 403) or to_login(response)


class Callers:
    """One HTTP client per caller; people are logged in again when a route ended their session."""

    def __init__(self, app: Flask, client: Client, users: Mapping[Role, User]) -> None:
        self.app = app
        self.users = users
        integration = create_integration(TESTS, "walk-rmm", "Walk RMM")
        self.tokens: dict[Role, str] = {}
        for role in Role:
            if role is Role.INTEGRATION:
                _, raw = create_integration_token(TESTS, integration, "walk")
            else:
                _, raw = create_api_token(TESTS, "walk", role, None if role.is_reseller else client)
            self.tokens[role] = raw
        db.session.commit()
        self.http: dict[str, FlaskClient] = {}
        # Path parameters that name existing things, for tests that need them (name -> value).
        self.valid: dict[str, str] = {}

    def _client(self, caller: Caller, fresh: bool = False) -> FlaskClient:
        if fresh or caller.label not in self.http:
            http = self.app.test_client()
            if caller.via is Via.SESSION:
                assert caller.role is not None
                user = self.users[caller.role]
                g.pop("_login_user", None)
                answer = http.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
                assert answer.status_code == 302, f"{caller.label} could not log in"
            self.http[caller.label] = http
        return self.http[caller.label]

    def send(self, caller: Caller, method: str, path: str, **kwargs: Any) -> TestResponse:
        """``kwargs`` as for FlaskClient.open; without ``data``, an API path gets an empty JSON body
        and a page an empty form."""
        response = self._send(self._client(caller), caller, method, path, kwargs)
        if caller.via is Via.SESSION and to_login(response):
            # An earlier route (logout, a password change) ended this person's session.
            response = self._send(self._client(caller, fresh=True), caller, method, path, kwargs)
        return response

    def _send(
        self, http: FlaskClient, caller: Caller, method: str, path: str, kwargs: dict[str, Any]
    ) -> TestResponse:
        # The test's app context outlives requests, and Flask-Login keeps the user it loaded in
        # ``g``: without this, one caller's login would carry over to the next caller's request.
        g.pop("_login_user", None)
        headers = {"Idempotency-Key": secrets.token_hex(8), **kwargs.pop("headers", {})}
        if caller.via is Via.TOKEN:
            assert caller.role is not None
            headers["Authorization"] = f"Bearer {self.tokens[caller.role]}"
        if "data" not in kwargs and "json" not in kwargs and method != "GET":
            kwargs["json" if path.startswith("/api/") else "data"] = {}
        return http.open(path, method=method, headers=headers, **kwargs)
