"""Fixtures shared by the accounts page tests: a client (acme), its logged-in administrator (grace),
and a request hook for modules that drive several test clients in one app context."""

from __future__ import annotations

import pytest
from flask import Flask, g

from portal.accounts.models import Client, Role, User


@pytest.fixture
def each_request_loads_its_user(app: Flask) -> None:
    # As in tests/portal/auth/test_sessions.py: several test clients share one app context here.
    def forget_the_cached_user() -> None:
        g.pop("_login_user", None)

    app.before_request_funcs.setdefault(None, []).insert(0, forget_the_cached_user)


@pytest.fixture
def acme(make_client) -> Client:
    return make_client("acme")


@pytest.fixture
def grace(acme, make_user, login) -> User:
    user = make_user(Role.CLIENT_ADMIN, acme, email="grace@acme.example")
    login(user)
    return user
