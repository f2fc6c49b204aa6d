"""Reseller client list and creation; tenancy of the client pages."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Client, Role, User
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db
from provisioning import place_order


def test_reseller_admin_creates_a_client_and_invites_its_admin(client, make_user, login, caplog):
    login(make_user(Role.RESELLER_ADMIN))

    with caplog.at_level("INFO", logger="seatmeter.mail"):
        response = client.post(
            "/reseller/clients",
            data={
                "ref": "acme",
                "name": "Acme Law LLP",
                "billing_email": "ap@acme.example",
                "admin_name": "Grace",
                "admin_email": "grace@acme.example",
            },
        )

    assert response.status_code == 302
    acme = db.session.scalars(select(Client).where(Client.ref == "acme")).one()
    admin = db.session.scalars(select(User).where(User.email == "grace@acme.example")).one()
    assert (admin.role, admin.client_id, admin.password_hash) == (Role.CLIENT_ADMIN, acme.id, None)
    assert re.search(r"/invitation/\S+", caplog.text)
    assert b"Acme Law LLP" in client.get("/reseller/clients?q=acme").data
    assert b"Acme Law LLP" not in client.get("/reseller/clients?q=zzz").data


def test_duplicate_ref_is_shown_next_to_the_field_and_nothing_is_created(
    client, make_user, make_client, login
):
    make_client("acme")
    login(make_user(Role.RESELLER_ADMIN))

    response = client.post(
        "/reseller/clients",
        data={"ref": "acme", "name": "Other", "admin_name": "X", "admin_email": "x@other.example"},
    )

    assert response.status_code == 200
    assert b"Already taken." in response.data
    assert db.session.scalars(select(User).where(User.email == "x@other.example")).first() is None


def test_bad_client_form_gets_field_errors(client, make_user, login):
    login(make_user(Role.RESELLER_ADMIN))

    response = client.post("/reseller/clients", data={"ref": "Acme Law", "name": "", "admin_email": "nope"})

    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "3 to 32 lowercase letters" in text
    assert "Not a valid e-mail address" in text


def test_staff_cannot_create_clients(client, make_user, login):
    login(make_user(Role.RESELLER_STAFF))

    client.post(
        "/reseller/clients",
        data={"ref": "acme", "name": "Acme", "admin_name": "G", "admin_email": "g@acme.example"},
    )

    assert db.session.scalars(select(Client)).all() == []


def test_a_client_sees_only_its_own_seats(client, catalog, make_client, make_user, login):
    acme, other = make_client("acme"), make_client("other")
    actor = Actor.system("tests")
    alice = add_end_user(actor, acme, "Alice Ward", "alice@acme.example")
    mallory = add_end_user(actor, other, "Mallory Secret", "mallory@other.example")
    place_order(actor, acme, get_product("desktop"), 1, [alice])
    place_order(actor, other, get_product("exchange"), 1, [mallory])
    db.session.commit()
    login(make_user(Role.CLIENT_ADMIN, acme))

    page = client.get("/client/").get_data(as_text=True)

    assert "Alice Ward" in page
    assert "Mallory" not in page
    assert "Hosted Exchange" not in page


def test_a_client_user_sees_only_seats_assigned_to_them(client, catalog, make_client, make_user, login):
    acme = make_client("acme")
    actor = Actor.system("tests")
    me = add_end_user(actor, acme, "Pat Me", "pat@acme.example")
    colleague = add_end_user(actor, acme, "Cole League", "cole@acme.example")
    place_order(actor, acme, get_product("desktop"), 2, [me, colleague])
    db.session.commit()
    login(make_user(Role.CLIENT_USER, acme, email="pat@acme.example"))

    page = client.get("/client/").get_data(as_text=True)

    assert "Pat Me" in page
    assert "Cole League" not in page
    assert client.get("/reseller/").status_code == 403
