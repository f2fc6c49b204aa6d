"""Logging in and out, forgotten passwords, invitations, CSRF and cookies, through the web."""

from __future__ import annotations

import re

import pytest
from aiosmtpd.controller import Controller

from portal import create_app
from portal.accounts.models import Role
from portal.accounts.services import invite_user
from portal.audit.services import Actor
from portal.db import db
from tests.conftest import TEST_PASSWORD, app_overrides, csrf_token_from
from tests.standins.ports import free_port


def test_login_page_is_served(client):
    response = client.get("/login")

    assert response.status_code == 200
    assert b"Log in" in response.data


def test_pages_need_a_login(client):
    response = client.get("/reseller/price-book/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(
    ("role", "home"), [(Role.RESELLER_ADMIN, "/reseller/"), (Role.CLIENT_ADMIN, "/client/")]
)
def test_each_role_lands_on_its_home(client, make_user, make_client, role, home):
    user = make_user(role, make_client("acme") if not role.is_reseller else None)

    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == home
    assert client.get(home).status_code == 200


def test_wrong_password_says_so_next_to_the_field(client, make_user):
    user = make_user(Role.RESELLER_ADMIN)

    response = client.post("/login", data={"email": user.email, "password": "not the password"})

    assert response.status_code == 200
    assert b"Wrong e-mail or password." in response.data


def test_malformed_login_input_gets_field_errors_not_a_500(client):
    response = client.post("/login", data={"email": "not-an-email", "password": ""})

    assert response.status_code == 200
    assert b"Not a valid e-mail address" in response.data
    assert b"This field is required." in response.data


def test_login_does_not_redirect_to_another_site(client, make_user):
    user = make_user(Role.RESELLER_ADMIN)

    response = client.post(
        "/login?next=https://evil.example/", data={"email": user.email, "password": TEST_PASSWORD}
    )

    assert response.headers["Location"] == "/"


def test_logout_ends_the_session(client, make_user, login):
    login(make_user(Role.RESELLER_ADMIN))

    client.post("/logout")

    assert client.get("/reseller/").status_code == 302


def test_forgotten_password_flow(client, make_user, caplog):
    user = make_user(Role.CLIENT_ADMIN, _client(make_user))
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        response = client.post("/password/forgot", data={"email": user.email})
    assert response.status_code == 302
    link = re.search(r"http://127\.0\.0\.1:5000(/password/reset/\S+)", caplog.text).group(1)

    page = client.get(link)
    assert user.email.encode() in page.data
    mismatch = client.post(link, data={"password": "new long password", "confirm": "different"})
    assert b"The passwords differ." in mismatch.data
    done = client.post(link, data={"password": "new long password", "confirm": "new long password"})
    assert done.headers["Location"] == "/"

    client.post("/logout")
    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 200
    assert (
        client.post("/login", data={"email": user.email, "password": "new long password"}).status_code == 302
    )
    again = client.get(link)
    assert again.status_code == 404
    assert b"not valid any more" in again.data


def test_forgotten_password_for_unknown_address_looks_the_same(client, caplog):
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        response = client.post(
            "/password/forgot", data={"email": "nobody@example.com"}, follow_redirects=True
        )

    assert b"If an account uses that address" in response.data
    assert "/password/reset/" not in caplog.text


def test_client_admin_invites_a_user_who_accepts(client, make_client, make_user, login, caplog):
    acme = make_client("acme")
    login(make_user(Role.CLIENT_ADMIN, acme))

    with caplog.at_level("INFO", logger="seatmeter.mail"):
        response = client.post(
            "/client/users", data={"name": "Pat Doe", "email": "pat@acme.example", "role": "client_user"}
        )
    assert response.status_code == 302
    page = client.get("/client/users")
    assert b"pat@acme.example" in page.data
    assert b"invited" in page.data

    link = re.search(r"(/invitation/\S+)", caplog.text).group(1)
    client.post("/logout")
    accepted = client.post(link, data={"password": "pats own password", "confirm": "pats own password"})
    assert accepted.headers["Location"] == "/"
    assert client.get("/client/").status_code == 200
    assert client.get("/client/users").status_code == 403  # a client user cannot manage users


def test_inviting_an_existing_address_shows_the_error_next_to_the_field(
    client, make_client, make_user, login
):
    acme = make_client("acme")
    admin = make_user(Role.CLIENT_ADMIN, acme)
    login(admin)

    response = client.post("/client/users", data={"name": "Me", "email": admin.email, "role": "client_user"})

    assert response.status_code == 200
    assert b"Already in use." in response.data


def test_every_form_refuses_a_post_without_csrf_token(database_url, engine, tmp_path):
    app = create_app({**app_overrides(database_url, tmp_path), "WTF_CSRF_ENABLED": True})
    client = app.test_client()
    # The JSON API (bearer tokens) and Stripe's webhooks (signatures) are not browser forms.
    post_routes = [
        rule
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or set()) and not rule.rule.startswith(("/api/", "/webhooks/"))
    ]
    assert len(post_routes) >= 7

    for rule in post_routes:
        path = re.sub(r"<int:[^>]+>", "1", rule.rule)
        path = re.sub(r"<[^>]+>", "x", path)
        response = client.post(path, data={"email": "a@b.example", "password": "x"})
        assert response.status_code == 400, rule.rule
        assert b"This form has expired" in response.data


def test_login_works_with_csrf_enabled(database_url, engine, tmp_path):
    app = create_app({**app_overrides(database_url, tmp_path), "WTF_CSRF_ENABLED": True})
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))

    response = client.post(
        "/login", data={"email": "nobody@example.com", "password": "x", "csrf_token": token}
    )

    assert response.status_code == 200
    assert b"Wrong e-mail or password." in response.data


def test_session_cookie_is_httponly_and_samesite(client, make_user):
    user = make_user(Role.RESELLER_ADMIN)

    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})

    cookie = response.headers["Set-Cookie"]
    assert "seatmeter_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_reset_mail_goes_out_over_smtp_when_configured(app, make_user):
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        user = make_user(Role.RESELLER_ADMIN)
        app.test_client().post("/password/forgot", data={"email": user.email})
    finally:
        controller.stop()

    assert len(received) == 1
    assert received[0].rcpt_tos == [user.email]
    assert b"/password/reset/" in received[0].content


def _client(make_user):
    from portal.accounts.services import create_client

    client = create_client(Actor.system("tests"), "acme", "Acme")
    db.session.commit()
    return client


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert b"Not found" in response.data


def test_invitation_page_shows_who_is_invited(client, make_client, caplog):
    acme = make_client("acme")
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        invite_user(Actor.system("tests"), "sam@acme.example", "Sam", Role.CLIENT_ADMIN, acme)
        db.session.commit()
    link = re.search(r"(/invitation/\S+)", caplog.text).group(1)

    page = client.get(link)

    assert page.status_code == 200
    assert b"sam@acme.example" in page.data


def test_five_wrong_passwords_lock_the_address_for_a_while(client, make_user):
    from datetime import timedelta

    from sqlalchemy import select

    from portal.accounts.models import FailedLogin

    user = make_user(Role.RESELLER_ADMIN)
    for _ in range(5):
        wrong = client.post("/login", data={"email": user.email, "password": "guess guess guess"})
        assert wrong.status_code == 200

    # Even the right password is refused now, with a way out.
    locked = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert locked.status_code == 429
    assert "Too many wrong passwords for this address. Try again in 15 minutes" in locked.get_data(
        as_text=True
    )

    # Once the window has passed, the right password works and the count starts again.
    for failure in db.session.scalars(select(FailedLogin)):
        failure.at -= timedelta(minutes=16)
    db.session.commit()
    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 302


def test_unknown_addresses_are_throttled_the_same_way(client):
    for _ in range(5):
        client.post("/login", data={"email": "nobody@example.com", "password": "guess guess guess"})

    locked = client.post("/login", data={"email": "NOBODY@example.com", "password": "guess guess guess"})

    assert locked.status_code == 429
    assert "Too many wrong passwords" in locked.get_data(as_text=True)


def test_a_successful_login_clears_earlier_failures(client, make_user):
    user = make_user(Role.RESELLER_ADMIN)
    for _ in range(4):
        client.post("/login", data={"email": user.email, "password": "guess guess guess"})
    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 302
    client.post("/logout")

    for _ in range(4):
        client.post("/login", data={"email": user.email, "password": "guess guess guess"})

    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 302
