"""Rate limits per source address, per account and per API token (issue 17, finding 6).

The module's own ``app`` fixture turns the limits on (the suite's default app has them off).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from portal import create_app
from portal.accounts.models import OneTimeToken, Role, TokenPurpose
from portal.accounts.services import is_locked
from portal.accounts.token_services import create_api_token
from portal.audit.services import Actor
from portal.db import db
from tests.conftest import TEST_PASSWORD, app_overrides
from tests.portal.api.conftest import Api

ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
OWNER = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture
def app(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    overrides = {
        **app_overrides(database_url, tmp_path / "instance"),
        "RATELIMIT_ENABLED": True,
        # Small where a test would otherwise need hundreds of requests; the login and e-mail limits
        # keep their production defaults, which the tests below show are enough.
        "RATELIMIT_LINKS": "2/hour",
        "RATELIMIT_INVITE": "2/hour",
        "RATELIMIT_API": "3/minute",
        "RATELIMIT_API_ANONYMOUS": "3/minute",
    }
    app = create_app(overrides)
    connection = engine.connect()
    transaction = connection.begin()
    app.extensions["seatmeter.db"].bind_to(connection)
    with app.app_context():
        yield app
    transaction.rollback()
    connection.close()
    app.extensions["seatmeter.db"].engine.dispose()


@pytest.fixture
def make_token(app: Flask):
    def _make(client_ref: str) -> str:
        from portal.accounts.services import get_client_by_ref

        _, raw = create_api_token(
            Actor.system("tests"), "test token", Role.CLIENT_ADMIN, get_client_by_ref(client_ref)
        )
        db.session.commit()
        return raw

    return _make


def _tokens(purpose: TokenPurpose) -> int | None:
    return db.session.scalar(
        select(func.count()).select_from(OneTimeToken).where(OneTimeToken.purpose == purpose)
    )


def test_one_address_trying_40_accounts_is_stopped_before_it_locks_more_than_a_handful(client, make_user):
    users = [make_user(Role.RESELLER_STAFF) for _ in range(40)]
    answers = []
    for user in users:
        for _ in range(5):
            response = client.post(
                "/login", data={"email": user.email, "password": "guess guess guess"}, environ_base=ATTACKER
            )
            answers.append(response)

    first_refusal = next(i for i, answer in enumerate(answers) if answer.status_code == 429)
    assert first_refusal == 20  # RATELIMIT_LOGIN's default: 20 a minute per address
    refused = answers[first_refusal]
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.mimetype == "text/html"
    assert "Too many requests from your address" in refused.get_data(as_text=True)
    assert all(answer.status_code == 429 for answer in answers[first_refusal:])
    assert sum(is_locked(user.email) for user in users) <= 4

    # The owner of an account further down the list, from their own address, is not held back.
    owner = users[-1]
    welcome = client.post(
        "/login", data={"email": owner.email, "password": TEST_PASSWORD}, environ_base=OWNER
    )
    assert welcome.status_code == 302


def test_reset_emails_are_limited_per_address_and_per_account(client, make_user):
    users = [make_user(Role.RESELLER_STAFF) for _ in range(6)]
    answers = [
        client.post("/password/forgot", data={"email": user.email}, environ_base=ATTACKER).status_code
        for user in users
    ]
    assert answers == [302] * 5 + [429]  # RATELIMIT_EMAIL: 5 an hour per address
    assert _tokens(TokenPurpose.PASSWORD_RESET) == 5

    # One mailbox flooded from many addresses: 3 an hour per account (RATELIMIT_EMAIL_ACCOUNT).
    target = make_user(Role.RESELLER_ADMIN)
    answers = [
        client.post(
            "/password/forgot", data={"email": target.email}, environ_base={"REMOTE_ADDR": f"192.0.2.{n}"}
        ).status_code
        for n in range(1, 5)
    ]
    assert answers == [302, 302, 302, 429]


def test_reset_and_unlock_emails_share_the_budget(client, make_user):
    user = make_user(Role.RESELLER_STAFF)
    for _ in range(3):
        assert (
            client.post("/password/forgot", data={"email": user.email}, environ_base=OWNER).status_code == 302
        )
    assert client.post("/login/unlock", data={"email": user.email}, environ_base=OWNER).status_code == 429


def test_using_one_time_links_is_limited_per_address(client):
    answers = [
        client.post(f"/password/reset/not-a-token-{n}", data={"password": "x", "confirm": "x"}).status_code
        for n in range(3)
    ]
    assert answers == [404, 404, 429]  # RATELIMIT_LINKS in this module: 2 an hour
    assert client.post("/invitation/another", data={"password": "x", "confirm": "x"}).status_code == 429
    assert client.get("/password/reset/anything").status_code == 404  # only POSTs count


def test_sending_invitations_is_limited_per_address(client, make_client, make_user, login):
    acme = make_client("acme")
    login(make_user(Role.CLIENT_ADMIN, acme))
    answers = [
        client.post(
            "/client/users", data={"email": f"new{n}@acme.example", "name": f"New {n}", "role": "client_user"}
        ).status_code
        for n in range(3)
    ]
    assert answers[-1] == 429
    assert 429 not in answers[:-1]


def test_the_api_is_limited_per_token(client, make_token, make_client, catalog):
    make_client("acme")
    first, second = Api(client, make_token("acme")), Api(client, make_token("acme"))

    answers = [first.get("/catalog") for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert "Too many requests" in refused.get_json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert second.get("/catalog").status_code == 200  # another token, the same address


def test_the_api_without_a_valid_token_is_limited_per_address(client, make_token, make_client, catalog):
    answers = [
        client.get("/api/v1/catalog", headers={"Authorization": f"Bearer smt_guess{n}"}).status_code
        for n in range(4)
    ]
    assert answers == [401, 401, 401, 429]
    assert client.get("/api/v1/catalog").status_code == 429  # no token at all: the same address budget
    assert client.get("/api/v1/catalog", environ_base=OWNER).status_code == 401

    # A valid token from that address is counted on its own budget, not the address's.
    make_client("acme")
    valid = Api(client, make_token("acme"))
    assert valid.get("/catalog").status_code == 200


def test_successful_logins_from_one_address_are_not_counted(client, make_user):
    # An office behind one NAT address: its people log in every morning.
    users = [make_user(Role.RESELLER_STAFF) for _ in range(25)]
    for user in users:
        login = client.post(
            "/login", data={"email": user.email, "password": TEST_PASSWORD}, environ_base=OWNER
        )
        assert login.status_code == 302
        client.post("/logout", environ_base=OWNER)
