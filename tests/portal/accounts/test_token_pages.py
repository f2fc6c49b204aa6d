"""API tokens on the console: created with the secret shown once (after a redirect), listed without
it, revoked after a confirmation page; a revoked token gets 401 from the API."""

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
def ada(make_user, login) -> User:
    user = make_user(Role.RESELLER_ADMIN, email="ada@northwind-it.example")
    login(user)
    return user


def _secret(page: str) -> str:
    match = re.search(r'id="token-secret"[^>]*value="(smt_[^"]+)"', page)
    assert match, "the page shows no token"
    return match.group(1)


def _api(client, raw: str):
    return client.get("/api/v1/catalog", headers={"Authorization": f"Bearer {raw}"})


def test_a_client_admin_creates_a_token_shown_once_after_a_redirect(client, grace, catalog):
    created = client.post("/client/tokens", data={"name": "PSA sync", "access": "client_admin"})

    assert created.status_code == 302
    token = db.session.scalars(select(ApiToken).where(ApiToken.name == "PSA sync")).one()
    assert created.headers["Location"] == f"/client/tokens/{token.id}/created"
    assert "smt_" not in created.get_data(as_text=True)
    shown = client.get(created.headers["Location"])
    raw = _secret(shown.get_data(as_text=True))
    assert shown.status_code == 200 and "no-store" in shown.headers["Cache-Control"]
    assert _api(client, raw).status_code == 200
    assert (token.role, token.client_id, token.created_by_id) == (
        Role.CLIENT_ADMIN,
        grace.client_id,
        grace.id,
    )

    # Never again: not on a reload, not in the list.
    again = client.get(created.headers["Location"])
    assert again.status_code == 410 and raw not in again.get_data(as_text=True)
    assert "cannot be shown again" in again.get_data(as_text=True)
    listing = client.get("/client/tokens").get_data(as_text=True)
    assert raw not in listing
    assert "PSA sync" in listing and token.token_prefix in listing and "never" not in listing


def test_the_list_says_scope_created_last_used_and_by_whom(client, grace, acme, catalog):
    token, raw = create_api_token(Actor.for_user(grace), "Nightly", Role.CLIENT_ADMIN, acme, None)
    db.session.commit()

    before = client.get("/client/tokens").get_data(as_text=True)
    _api(client, raw)
    after = client.get("/client/tokens").get_data(as_text=True)

    row = re.search(rf'<tr id="token-{token.id}">(.*?)</tr>', before, re.S).group(1)
    assert "all of Acme" in row and f"by {grace.name}" in row and "never" in row
    row = re.search(rf'<tr id="token-{token.id}">(.*?)</tr>', after, re.S).group(1)
    assert "never" not in row and " UTC" in row


def test_a_client_user_token_acts_as_the_chosen_person(client, grace, acme, make_user):
    pat = make_user(Role.CLIENT_USER, acme, email="pat@acme.example")

    client.post("/client/tokens", data={"name": "Pat's phone", "access": f"user:{pat.id}"})

    token = db.session.scalars(select(ApiToken).where(ApiToken.name == "Pat's phone")).one()
    assert (token.role, token.created_by_id) == (Role.CLIENT_USER, pat.id)


def test_another_clients_person_is_not_offered(client, grace, make_client, make_user):
    mallory = make_user(Role.CLIENT_USER, make_client("other"))

    response = client.post("/client/tokens", data={"name": "Sneaky", "access": f"user:{mallory.id}"})

    assert response.status_code == 422
    assert db.session.scalars(select(ApiToken)).all() == []
    assert mallory.name not in client.get("/client/tokens").get_data(as_text=True)


def test_a_client_admin_cannot_create_a_reseller_token(client, grace):
    response = client.post("/client/tokens", data={"name": "Escalate", "access": "reseller_admin"})

    assert response.status_code == 422
    assert db.session.scalars(select(ApiToken)).all() == []


def test_revoking_asks_first_then_the_api_answers_401(client, grace, acme, catalog):
    token, raw = create_api_token(Actor.for_user(grace), "Old script", Role.CLIENT_ADMIN, acme, None)
    db.session.commit()
    assert _api(client, raw).status_code == 200

    asking = client.get(f"/client/tokens/{token.id}/revoke")
    assert asking.status_code == 200
    assert "cannot be undone" in asking.get_data(as_text=True)
    assert _api(client, raw).status_code == 200  # asking revoked nothing

    done = client.post(f"/client/tokens/{token.id}/revoke")

    assert done.status_code == 302 and done.headers["Location"] == "/client/tokens"
    assert _api(client, raw).status_code == 401
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "api_token.revoked")).one()
    assert (
        event.details["summary"]
        == f"grace@acme.example revoked the API token “Old script” ({token.token_prefix}…)."
    )


def test_another_clients_token_is_not_found(client, grace, make_client, catalog):
    other = make_client("other")
    token, raw = create_api_token(Actor.system("tests"), "Theirs", Role.CLIENT_ADMIN, other, None)
    db.session.commit()

    assert "Theirs" not in client.get("/client/tokens").get_data(as_text=True)
    for method in ("GET", "POST"):
        assert client.open(f"/client/tokens/{token.id}/revoke", method=method).status_code == 404
    assert client.get(f"/client/tokens/{token.id}/created").status_code == 404
    assert _api(client, raw).status_code == 200


def test_the_secret_is_shown_only_for_the_token_just_created(client, grace, acme):
    first = client.post("/client/tokens", data={"name": "One", "access": "client_admin"})
    client.post("/client/tokens", data={"name": "Two", "access": "client_admin"})

    # The page of the first never shows the second's secret (nor its own any more).
    assert client.get(first.headers["Location"]).status_code == 410


def test_a_reseller_admin_creates_a_staff_token_and_sees_every_token(client, ada, acme, catalog):
    create_api_token(Actor.system("command line"), "Acme's PSA", Role.CLIENT_ADMIN, acme, None)
    db.session.commit()

    created = client.post("/reseller/tokens", data={"name": "Reporting", "access": "reseller_staff"})
    raw = _secret(client.get(created.headers["Location"]).get_data(as_text=True))

    listing = client.get("/reseller/tokens").get_data(as_text=True)
    assert "Acme&#39;s PSA" in listing and "by command line" in listing and "every client" in listing
    assert raw not in listing
    reading = client.get("/api/v1/catalog", headers={"Authorization": f"Bearer {raw}"})
    assert reading.status_code == 200
    writing = client.post("/api/v1/clients", json={"ref": "x"}, headers={"Authorization": f"Bearer {raw}"})
    assert writing.status_code == 403  # staff tokens read and change nothing


@pytest.mark.parametrize(
    ("role", "path"),
    [
        (Role.RESELLER_STAFF, "/reseller/tokens"),
        (Role.CLIENT_ADMIN, "/reseller/tokens"),
        (Role.CLIENT_USER, "/client/tokens"),
        (Role.RESELLER_ADMIN, "/client/tokens"),
    ],
)
def test_who_may_not_manage_tokens(client, acme, make_user, login, role, path):
    login(make_user(role, acme if role in (Role.CLIENT_ADMIN, Role.CLIENT_USER) else None))

    assert client.get(path).status_code == 403
    assert client.post(path, data={"name": "x", "access": "reseller_admin"}).status_code == 403
    assert db.session.scalars(select(ApiToken)).all() == []


def test_a_token_outlives_its_removed_creator_and_still_says_who_made_it(
    app, client, acme, make_user, login, catalog
):
    grace = make_user(Role.CLIENT_ADMIN, acme, email="grace@acme.example")
    henry = make_user(Role.CLIENT_ADMIN, acme, email="henry@acme.example")
    login(grace)
    created = client.post("/client/tokens", data={"name": "Office script", "access": "client_admin"})
    raw = _secret(client.get(created.headers["Location"]).get_data(as_text=True))
    other = app.test_client()
    other.post("/login", data={"email": henry.email, "password": TEST_PASSWORD})

    assert other.post(f"/client/users/{grace.id}/remove").status_code == 302

    assert _api(other, raw).status_code == 200  # the client's token, not the person's
    listing = other.get("/client/tokens").get_data(as_text=True)
    assert "Office script" in listing and "by grace@acme.example" in listing
