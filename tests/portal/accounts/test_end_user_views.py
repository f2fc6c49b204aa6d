"""Client administrators add, edit and remove their end users on the web."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import EndUser, Role
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db
from provisioning import cancel_seat, place_order

TESTS = Actor.system("tests")


@pytest.fixture
def acme(catalog, make_client, make_user, login):
    client = make_client("acme", "Acme Law LLP")
    login(make_user(Role.CLIENT_ADMIN, client))
    return client


def _people(client) -> list[EndUser]:
    db.session.expire_all()
    return list(db.session.scalars(select(EndUser).where(EndUser.client_id == client.id)))


def test_add_an_end_user_with_a_upn_on_an_internal_domain(client, acme):
    response = client.post(
        "/client/end-users/", data={"name": " Alice Ward ", "email": "Alice@Corp.Local", "extension": "201"}
    )

    assert response.status_code == 302
    [alice] = _people(acme)
    assert (alice.name, alice.email, alice.extension) == ("Alice Ward", "alice@corp.local", "201")
    page = client.get("/client/end-users/").get_data(as_text=True)
    assert "Alice Ward is added." in page
    assert "alice@corp.local" in page


@pytest.mark.parametrize(
    ("data", "field_error"),
    [
        ({"name": "", "email": "a@acme.example"}, "This field is required."),
        ({"name": "A", "email": ""}, "This field is required."),
        ({"name": "A", "email": "not-an-address"}, "Write it as name@domain"),
        ({"name": "A", "email": "a b@acme.example"}, "Not a valid e-mail address or UPN"),
        ({"name": "A", "email": "a@acme..example"}, "must be a domain name"),
        ({"name": "A", "email": "a@acme.example", "extension": "12a"}, "Use 2 to 8 digits."),
        ({"name": "A" * 201, "email": "a@acme.example"}, "Field cannot be longer than 200 characters."),
        (
            {"name": "Al\x00ice", "email": "a@acme.example"},
            "Use one line of letters, digits and punctuation.",
        ),
    ],
)
def test_bad_input_is_shown_next_to_the_field(client, acme, data, field_error):
    response = client.post("/client/end-users/", data=data)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error in page
    assert 'class="field has-error"' in page
    assert _people(acme) == []


def test_duplicates_are_refused_next_to_the_field(client, acme):
    add_end_user(TESTS, acme, "Alice", "alice@acme.example", "201")
    db.session.commit()

    same_email = client.post("/client/end-users/", data={"name": "Al", "email": "ALICE@acme.example"})
    same_extension = client.post(
        "/client/end-users/", data={"name": "Bo", "email": "bo@acme.example", "extension": "201"}
    )

    assert same_email.status_code == same_extension.status_code == 422
    assert "Already in use." in same_email.get_data(as_text=True)
    assert "Already in use." in same_extension.get_data(as_text=True)
    assert len(_people(acme)) == 1


def test_edit_an_end_user(client, acme):
    alice = add_end_user(TESTS, acme, "Alice", "alice@acme.example")
    db.session.commit()
    form = client.get(f"/client/end-users/{alice.id}/edit").get_data(as_text=True)
    assert 'value="alice@acme.example"' in form

    response = client.post(
        f"/client/end-users/{alice.id}/edit",
        data={"name": "Alice Ward", "email": "alice.ward@acme.example", "extension": "205"},
    )

    assert response.status_code == 302
    [saved] = _people(acme)
    assert (saved.name, saved.email, saved.extension) == ("Alice Ward", "alice.ward@acme.example", "205")


def test_the_sign_in_name_of_someone_with_a_seat_cannot_change(client, acme):
    alice = add_end_user(TESTS, acme, "Alice", "alice@acme.example")
    place_order(TESTS, acme, get_product("voip"), 1, [alice])
    db.session.commit()

    response = client.post(
        f"/client/end-users/{alice.id}/edit", data={"name": "Alice", "email": "new@acme.example"}
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Cannot change while the person holds seats." in page
    assert _people(acme)[0].email == "alice@acme.example"


def test_remove_an_end_user_after_confirming(client, acme):
    alice = add_end_user(TESTS, acme, "Alice", "alice@acme.example")
    db.session.commit()

    confirm = client.get(f"/client/end-users/{alice.id}/remove").get_data(as_text=True)
    assert "holds no seat" in confirm
    response = client.post(f"/client/end-users/{alice.id}/remove")

    assert response.status_code == 302
    assert _people(acme) == []


def test_someone_holding_a_seat_is_not_removed(client, acme):
    alice = add_end_user(TESTS, acme, "Alice", "alice@acme.example")
    order = place_order(TESTS, acme, get_product("voip"), 1, [alice])
    db.session.commit()

    confirm = client.get(f"/client/end-users/{alice.id}/remove").get_data(as_text=True)
    assert f"Hosted VoIP Seat #{order.seats[0].id}" in confirm
    response = client.post(f"/client/end-users/{alice.id}/remove")

    assert response.status_code == 409
    assert "Unassign or cancel them first." in response.get_data(as_text=True)
    assert len(_people(acme)) == 1
    cancel_seat(TESTS, order.seats[0])
    db.session.commit()
    assert "holds no seat" in client.get(f"/client/end-users/{alice.id}/remove").get_data(as_text=True)


def test_the_list_shows_the_seats_each_person_holds(client, acme):
    alice = add_end_user(TESTS, acme, "Alice", "alice@acme.example")
    add_end_user(TESTS, acme, "Bob", "bob@acme.example")
    order = place_order(TESTS, acme, get_product("voip"), 1, [alice])
    db.session.commit()

    page = client.get("/client/end-users/").get_data(as_text=True)

    alice_row = page.split(f'id="end-user-{alice.id}"')[1].split("</tr>")[0]
    assert f"/client/seats/{order.seats[0].id}" in alice_row
    assert "none" in page.split('id="end-user-')[2].split("</tr>")[0]
