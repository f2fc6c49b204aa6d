"""Logging out ends the session on the server: old cookies stop working, remember-me included."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import g

from portal.accounts.models import Role
from tests.conftest import TEST_PASSWORD

SESSION = "seatmeter_session"
REMEMBER = "remember_token"


@pytest.fixture(autouse=True)
def _each_request_loads_its_user(app):
    """In production every request has its own app context, so Flask-Login loads the user from the
    request's cookies each time. The ``app`` fixture keeps one app context for the whole test, and
    Flask-Login caches the user in ``g`` on it: forget that cache at the start of each request, or
    one test client would be served the user another test client logged in."""

    def forget_the_cached_user() -> None:
        g.pop("_login_user", None)

    app.before_request_funcs.setdefault(None, []).insert(0, forget_the_cached_user)


def _client_admin(make_client, make_user):
    return make_user(Role.CLIENT_ADMIN, make_client("acme"))


def test_a_session_cookie_saved_before_logout_no_longer_opens_pages(client, make_client, make_user, login):
    login(_client_admin(make_client, make_user))
    assert client.get("/client/").status_code == 200
    saved = client.get_cookie(SESSION).value

    client.post("/logout")
    client.set_cookie(SESSION, saved)  # what an attacker who copied the cookie would send

    response = client.get("/client/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_the_remember_me_cookie_alone_no_longer_logs_in_after_logout(app, client, make_client, make_user):
    user = _client_admin(make_client, make_user)
    client.post("/login", data={"email": user.email, "password": TEST_PASSWORD, "remember": "y"})
    remembered = client.get_cookie(REMEMBER).value

    # Before logout, the remember-me cookie alone opens the portal (that is what it is for) ...
    fresh = app.test_client()
    fresh.set_cookie(REMEMBER, remembered)
    assert fresh.get("/client/").status_code == 200

    client.post("/logout")

    # ... and after logout it does not.
    stolen = app.test_client()
    stolen.set_cookie(REMEMBER, remembered)
    assert stolen.get("/client/").status_code == 302


def test_remember_me_lasts_at_most_30_days(client, make_client, make_user):
    user = _client_admin(make_client, make_user)

    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD, "remember": "y"})

    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith(REMEMBER))
    expires = datetime.strptime(re.search(r"Expires=([^;]+)", cookie).group(1), "%a, %d %b %Y %H:%M:%S GMT")
    assert expires.replace(tzinfo=UTC) <= datetime.now(UTC) + timedelta(days=30, minutes=1)


def test_a_password_reset_ends_the_other_sessions(app, client, make_client, make_user, login, caplog):
    user = _client_admin(make_client, make_user)
    login(user)
    elsewhere = app.test_client()
    elsewhere.post("/login", data={"email": user.email, "password": TEST_PASSWORD, "remember": "y"})
    assert elsewhere.get("/client/").status_code == 200

    with caplog.at_level("INFO", logger="seatmeter.mail"):
        app.test_client().post("/password/forgot", data={"email": user.email})
    link = re.search(r"(/password/reset/\S+)", caplog.text).group(1)
    new = "a brand new passphrase"
    assert client.post(link, data={"password": new, "confirm": new}).status_code == 302

    assert client.get("/client/").status_code == 200  # the session that reset it goes on
    assert elsewhere.get("/client/").status_code == 302
    remembered_only = app.test_client()
    remembered_only.set_cookie(REMEMBER, elsewhere.get_cookie(REMEMBER).value)
    assert remembered_only.get("/client/").status_code == 302
