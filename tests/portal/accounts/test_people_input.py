"""Nothing typed into the people and token forms causes a 500 (control characters, long text)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.accounts.models import ApiToken, Role, User
from portal.db import db

HOSTILE_NAMES = ["a\x00b", "tab\there", "line\nbreak", "W" * 10_000]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_refused_in_plain_words(client, make_client, make_user, login, name):
    acme = make_client("acme")
    login(make_user(Role.CLIENT_ADMIN, acme))

    token = client.post("/client/tokens", data={"name": name, "access": "client_admin"})
    invite = client.post(
        "/client/users", data={"name": name, "email": "x@acme.example", "role": "client_user"}
    )

    assert (token.status_code, invite.status_code) == (422, 200)
    for page in (token.get_data(as_text=True), invite.get_data(as_text=True)):
        assert "Use letters, digits" in page or "between 1 and" in page or "longer than" in page
        # The messages never quote the input (the field keeps it, to be corrected).
        assert all("W" * 50 not in message for message in re.findall(r'class="error">([^<]*)<', page))
    assert db.session.scalars(select(ApiToken)).all() == []
    assert db.session.scalars(select(User).where(User.email == "x@acme.example")).first() is None


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_on_the_team_page(client, make_user, login, name):
    login(make_user(Role.RESELLER_ADMIN))

    response = client.post(
        "/reseller/team", data={"name": name, "email": "x@msp.example", "role": "reseller_staff"}
    )

    assert response.status_code == 200
    assert db.session.scalars(select(User).where(User.email == "x@msp.example")).first() is None
