"""A client administrator's portal users (/client/users): change role, disable, enable, re-invite,
remove — never the last client administrator, never themselves, never another client's user (404)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.accounts.models import ApiToken, Role, User
from portal.accounts.token_services import create_api_token
from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.db import db
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.usefixtures("each_request_loads_its_user")


@pytest.fixture
def pat(acme, make_user) -> User:
    return make_user(Role.CLIENT_USER, acme, email="pat@acme.example")


@pytest.fixture
def mallory(make_client, make_user) -> User:
    return make_user(Role.CLIENT_USER, make_client("other"), email="mallory@other.example")


def _fresh(user_id: int) -> User | None:
    db.session.expire_all()
    return db.session.get(User, user_id)


def test_the_page_offers_each_action_for_each_person_but_not_on_oneself(client, grace, pat):
    page = client.get("/client/users").get_data(as_text=True)

    assert f'action="/client/users/{pat.id}/disable"' in page
    assert f'href="/client/users/{pat.id}/remove"' in page
    assert f'action="/client/users/{grace.id}/disable"' not in page
    assert f'href="/client/users/{grace.id}/remove"' not in page
    # Every role select has a label of its own (one per row, no shared ids).
    assert page.count(f'for="u{pat.id}-role"') == 1 and page.count(f'id="u{pat.id}-role"') == 1


def test_a_user_is_made_an_administrator_and_back(client, grace, pat):
    assert (
        client.post(f"/client/users/{pat.id}/role", data={f"u{pat.id}-role": "client_admin"}).status_code
        == 302
    )
    assert _fresh(pat.id).role is Role.CLIENT_ADMIN

    assert (
        client.post(f"/client/users/{pat.id}/role", data={f"u{pat.id}-role": "client_user"}).status_code
        == 302
    )
    assert _fresh(pat.id).role is Role.CLIENT_USER


def test_a_reseller_role_cannot_be_given_from_the_client_page(client, grace, pat):
    response = client.post(f"/client/users/{pat.id}/role", data={f"u{pat.id}-role": "reseller_admin"})

    assert response.status_code == 422
    assert _fresh(pat.id).role is Role.CLIENT_USER


def test_the_last_client_admin_cannot_step_down(client, grace, pat):
    response = client.post(f"/client/users/{grace.id}/role", data={f"u{grace.id}-role": "client_user"})

    assert response.status_code == 409
    assert "last active administrator" in response.get_data(as_text=True)
    assert _fresh(grace.id).role is Role.CLIENT_ADMIN


def test_another_clients_admin_does_not_count(client, grace, make_client, make_user):
    make_user(Role.CLIENT_ADMIN, make_client("bright"))

    response = client.post(f"/client/users/{grace.id}/role", data={f"u{grace.id}-role": "client_user"})

    assert response.status_code == 409


def test_disabling_ends_their_session_and_blocks_login_until_enabled(app, client, grace, pat):
    theirs = app.test_client()
    theirs.post("/login", data={"email": pat.email, "password": TEST_PASSWORD})
    assert theirs.get("/client/").status_code == 200

    assert client.post(f"/client/users/{pat.id}/disable").status_code == 302

    assert theirs.get("/client/").status_code == 302
    assert (
        app.test_client().post("/login", data={"email": pat.email, "password": TEST_PASSWORD}).status_code
        != 302
    )
    assert client.post(f"/client/users/{pat.id}/enable").status_code == 302
    assert (
        app.test_client().post("/login", data={"email": pat.email, "password": TEST_PASSWORD}).status_code
        == 302
    )


def test_a_disabled_persons_own_token_stops_working_until_they_are_enabled(client, grace, pat, acme, catalog):
    _token, raw = create_api_token(Actor.system("tests"), "Pat's script", Role.CLIENT_USER, acme, pat)
    _, admins_raw = create_api_token(Actor.system("tests"), "Office script", Role.CLIENT_ADMIN, acme, None)
    db.session.commit()
    bearer = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/catalog", headers=bearer).status_code == 200

    client.post(f"/client/users/{pat.id}/disable")
    assert client.get("/api/v1/catalog", headers=bearer).status_code == 401
    assert client.get("/api/v1/catalog", headers={"Authorization": f"Bearer {admins_raw}"}).status_code == 200

    client.post(f"/client/users/{pat.id}/enable")
    assert client.get("/api/v1/catalog", headers=bearer).status_code == 200


def test_no_one_disables_or_removes_themselves(client, grace, acme, make_user):
    make_user(Role.CLIENT_ADMIN, acme)

    assert client.post(f"/client/users/{grace.id}/disable").status_code == 409
    assert client.post(f"/client/users/{grace.id}/remove").status_code == 409
    assert _fresh(grace.id).active


def test_removal_asks_first_then_deletes_and_revokes_the_tokens_that_act_as_them(client, grace, pat, acme):
    token, _raw = create_api_token(Actor.system("tests"), "Pat's script", Role.CLIENT_USER, acme, pat)
    db.session.commit()

    asking = client.get(f"/client/users/{pat.id}/remove")
    assert asking.status_code == 200 and "cannot be undone" in asking.get_data(as_text=True)
    assert _fresh(pat.id) is not None

    done = client.post(f"/client/users/{pat.id}/remove")

    assert done.status_code == 302 and done.headers["Location"] == "/client/users"
    assert _fresh(pat.id) is None
    revoked = db.session.get(ApiToken, token.id)
    assert revoked is not None and revoked.revoked_at is not None
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.removed")).one()
    assert event.client_id == acme.id
    assert event.details["summary"] == "grace@acme.example removed pat@acme.example (client user)."


def test_reinviting_sends_a_new_link_and_voids_the_old(app, client, grace, caplog):
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        client.post("/client/users", data={"name": "Lee", "email": "lee@acme.example", "role": "client_user"})
        lee = db.session.scalars(select(User).where(User.email == "lee@acme.example")).one()
        assert client.post(f"/client/users/{lee.id}/reinvite").status_code == 302
    first, second = re.findall(r"(/invitation/\S+)", caplog.text)

    password = {"password": "lees own passphrase", "confirm": "lees own passphrase"}
    assert app.test_client().post(first, data=password).status_code == 404
    assert app.test_client().post(second, data=password).status_code == 302


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/client/users/{id}/role"),
        ("POST", "/client/users/{id}/disable"),
        ("POST", "/client/users/{id}/enable"),
        ("POST", "/client/users/{id}/reinvite"),
        ("GET", "/client/users/{id}/remove"),
        ("POST", "/client/users/{id}/remove"),
    ],
)
def test_another_clients_user_is_not_found(client, grace, mallory, method, path):
    response = client.open(
        path.format(id=mallory.id), method=method, data={f"u{mallory.id}-role": "client_admin"}
    )

    assert response.status_code == 404
    assert "mallory" not in response.get_data(as_text=True).lower()
    assert _fresh(mallory.id).active and _fresh(mallory.id).role is Role.CLIENT_USER


def test_a_reseller_users_id_is_not_found_either(client, grace, make_user):
    ada = make_user(Role.RESELLER_ADMIN)

    assert client.post(f"/client/users/{ada.id}/disable").status_code == 404
    assert _fresh(ada.id).active


@pytest.mark.parametrize("role", [Role.CLIENT_USER, Role.RESELLER_STAFF, Role.RESELLER_ADMIN])
def test_only_a_client_admin_manages_portal_users(client, acme, pat, make_user, login, role):
    login(make_user(role, acme if role is Role.CLIENT_USER else None))

    for path in (f"/client/users/{pat.id}/disable", f"/client/users/{pat.id}/remove"):
        assert client.post(path).status_code == 403
    assert _fresh(pat.id).active


@pytest.mark.parametrize(
    "path",
    [
        "/client/users/{id}/disable",
        "/client/users/{id}/remove",
        "/client/tokens/{id}/revoke",
        "/client/tokens/{id}/created",
    ],
)
def test_ids_beyond_any_database_integer_are_not_found(client, grace, path):
    assert client.post(path.format(id=2**70)).status_code in (404, 405)
    assert client.get(path.format(id=2**70)).status_code in (404, 405)


def test_someone_with_history_is_removed_cleanly(client, grace, pat, acme, catalog):
    # A person who set up two-step login, acted (an order, audit entries) and had a reset link.
    from portal.accounts.services import request_password_reset
    from portal.accounts.two_factor_services import begin_setup
    from portal.catalog.services import get_product
    from portal.orders.models import Order
    from provisioning import place_order

    begin_setup(pat)
    order = place_order(Actor.for_user(pat), acme, get_product("voip"), 1)
    order.placed_by_user_id = pat.id
    request_password_reset(pat.email)
    db.session.commit()

    assert client.post(f"/client/users/{pat.id}/remove").status_code == 302

    assert _fresh(pat.id) is None
    kept = db.session.get(Order, order.id)
    assert kept is not None and kept.placed_by_user_id is None
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.actor == pat.email)).all() != []
