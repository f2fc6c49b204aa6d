"""Inviting an address that has an account in another tenant tells the inviter nothing (finding 9).

The client administrator gets the same answer as for any new address; nobody is created, moved or
given a link; the owner of the address is told by e-mail why no invitation came.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.accounts.models import OneTimeToken, Role, User
from portal.accounts.services import invite_user
from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.db import db
from portal.errors import Conflict


def _invite(client, email: str):
    return client.post("/client/users", data={"name": "Someone", "email": email, "role": "client_admin"})


def _answer(response, email: str) -> tuple[int, str | None, str]:
    page = response.status_code, response.headers.get("Location")
    return (*page, response.get_data(as_text=True).replace(email, "ADDRESS"))


@pytest.mark.parametrize("taken_by", ["another client", "the reseller"])
def test_an_address_of_another_tenant_gets_the_answer_of_a_new_address(
    app, client, make_client, make_user, login, caplog, taken_by
):
    acme, bright = make_client("acme"), make_client("bright")
    other = (
        make_user(Role.CLIENT_ADMIN, bright)
        if taken_by == "another client"
        else make_user(Role.RESELLER_STAFF)
    )
    before = (other.client_id, other.role, other.password_hash, other.session_version)
    login(make_user(Role.CLIENT_ADMIN, acme))

    new = _invite(client, "new.person@acme.example")
    caplog.clear()
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        taken = _invite(client, other.email)

    assert _answer(taken, other.email) == _answer(new, "new.person@acme.example")
    flashed = client.get("/client/users").get_data(as_text=True)
    assert f"Invitation sent to {other.email}." in flashed
    # Nothing hands the account to acme: same tenant, role and password, no link to set one.
    db.session.expire_all()
    again = db.session.get(User, other.id)
    assert (again.client_id, again.role, again.password_hash, again.session_version) == before
    assert db.session.scalar(select(func.count()).where(User.email == other.email)) == 1
    assert db.session.scalars(select(OneTimeToken).where(OneTimeToken.user_id == other.id)).all() == []
    # The address's owner is told why no invitation came, without a link.
    assert f"To: {other.email}" in caplog.text
    assert "already has a Seatmeter account" in caplog.text
    assert "/invitation/" not in caplog.text
    # The reseller's audit log has it; acme's activity does not.
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.invitation_to_taken_address")
    ).one()
    assert event.client_id is None and event.details["inviting_client"] == "acme"


def test_the_reseller_still_hears_that_an_address_is_taken(make_client, make_user):
    acme, bright = make_client("acme"), make_client("bright")
    other = make_user(Role.CLIENT_ADMIN, bright)

    # The reseller sees every user anyway; hiding it would only create a client without its admin.
    with pytest.raises(Conflict):
        invite_user(Actor.for_user(make_user(Role.RESELLER_ADMIN)), other.email, "X", Role.CLIENT_ADMIN, acme)
    with pytest.raises(Conflict):
        invite_user(Actor.system("cli"), other.email, "X", Role.CLIENT_ADMIN, acme)
