"""The client's seats on the web: list, detail, assign / reassign / unassign / cancel / retry, and
the live states the browser polls."""

from __future__ import annotations

from portal.accounts.models import Role
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db
from portal.orders.models import DesiredState, Seat, SeatState
from provisioning import place_order, unassign_seat
from provisioning.lifecycle import move

TESTS = Actor.system("tests")


def _seat(seat_id: int) -> Seat:
    db.session.expire_all()
    seat = db.session.get(Seat, seat_id)
    assert seat is not None
    return seat


def _voip_seats(tenant, quantity: int = 1, people=()) -> list[Seat]:
    order = place_order(TESTS, tenant.client, get_product("voip"), quantity, list(people))
    db.session.commit()
    return list(order.seats)


def test_seat_list_and_detail_show_state_and_person(client, as_acme_admin):
    [seat] = _voip_seats(as_acme_admin, people=[as_acme_admin.alice])

    listing = client.get("/client/seats/").get_data(as_text=True)
    detail = client.get(f"/client/seats/{seat.id}").get_data(as_text=True)

    assert f'data-seat-id="{seat.id}"' in listing
    assert "Alice Ward" in listing
    assert "Hosted VoIP Seat" in detail
    assert "Reassign" in detail
    assert "Cancel this seat" in detail


def test_an_unassigned_desktop_says_it_waits_for_a_person(client, as_acme_admin):
    order = place_order(TESTS, as_acme_admin.client, get_product("desktop"), 1)
    db.session.commit()

    page = client.get(f"/client/seats/{order.seats[0].id}").get_data(as_text=True)

    assert "Set up once you assign it to a person" in page
    assert 'data-settled="true"' in page


def test_assign_then_reassign_a_seat(client, as_acme_admin):
    acme = as_acme_admin
    [seat] = _voip_seats(acme)

    response = client.post(f"/client/seats/{seat.id}/assign", data={"end_user": str(acme.alice.id)})
    assert response.status_code == 302
    assert _seat(seat.id).end_user_id == acme.alice.id
    assert "is assigned to Alice Ward" in client.get(f"/client/seats/{seat.id}").get_data(as_text=True)

    client.post(f"/client/seats/{seat.id}/assign", data={"end_user": str(acme.bob.id)})
    assert _seat(seat.id).end_user_id == acme.bob.id
    assert "moves from Alice Ward to Bob Stone" in client.get(f"/client/seats/{seat.id}").get_data(
        as_text=True
    )


def test_assign_without_a_person_or_with_garbage_is_a_field_error(client, as_acme_admin):
    [seat] = _voip_seats(as_acme_admin)

    for data in ({}, {"end_user": "0"}, {"end_user": "abc"}, {"end_user": "99999"}):
        response = client.post(f"/client/seats/{seat.id}/assign", data=data)
        assert response.status_code == 422, data
        assert 'class="field has-error"' in response.get_data(as_text=True)
    assert _seat(seat.id).end_user_id is None


def test_a_person_cannot_hold_two_desktops(client, as_acme_admin):
    acme = as_acme_admin
    place_order(TESTS, acme.client, get_product("desktop"), 1, [acme.alice])
    second = place_order(TESTS, acme.client, get_product("desktop"), 1)
    db.session.commit()

    response = client.post(
        f"/client/seats/{second.seats[0].id}/assign", data={"end_user": str(acme.alice.id)}
    )

    assert response.status_code == 409
    assert "Already has one of these." in response.get_data(as_text=True)
    assert _seat(second.seats[0].id).end_user_id is None


def test_unassign_a_seat(client, as_acme_admin):
    [seat] = _voip_seats(as_acme_admin, people=[as_acme_admin.alice])

    response = client.post(f"/client/seats/{seat.id}/unassign")

    assert response.status_code == 302
    assert _seat(seat.id).end_user_id is None
    again = client.post(f"/client/seats/{seat.id}/unassign")
    assert again.status_code == 409
    assert "is not assigned to anyone" in again.get_data(as_text=True)


def test_cancel_a_seat_and_it_cannot_be_cancelled_twice(client, as_acme_admin):
    [seat] = _voip_seats(as_acme_admin)

    response = client.post(f"/client/seats/{seat.id}/cancel")

    assert response.status_code == 302
    assert _seat(seat.id).desired_state is DesiredState.TERMINATED
    page = client.get(f"/client/seats/{seat.id}").get_data(as_text=True)
    assert "Cancel this seat" not in page
    assert client.post(f"/client/seats/{seat.id}/cancel").status_code == 409
    assert client.post(f"/client/seats/{seat.id}/assign", data={"end_user": "1"}).status_code in (409, 422)


def test_a_failed_seat_shows_the_reason_and_can_be_retried(client, as_acme_admin):
    [seat] = _voip_seats(as_acme_admin, people=[as_acme_admin.alice])
    stored = _seat(seat.id)
    stored.state = SeatState.FAILED
    stored.last_error = "The phone system refused the extension 201: it is taken."
    db.session.commit()

    page = client.get(f"/client/seats/{seat.id}").get_data(as_text=True)
    assert "The phone system refused the extension 201: it is taken." in page
    assert "Try again" in page

    response = client.post(f"/client/seats/{seat.id}/retry")

    assert response.status_code == 302
    assert _seat(seat.id).state is not SeatState.FAILED
    assert client.post(f"/client/seats/{seat.id}/retry").status_code == 409


def test_states_json_reports_the_seats_on_the_page(client, as_acme_admin):
    first, second = _voip_seats(as_acme_admin, 2, [as_acme_admin.alice])
    stored = _seat(second.id)
    stored.state = SeatState.FAILED
    stored.last_error = "No free extension."
    db.session.commit()

    response = client.get(f"/client/seats/states.json?ids={first.id},{second.id},zz,,-1")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    seats = {seat["id"]: seat for seat in response.get_json()["seats"]}
    assert set(seats) == {first.id, second.id}
    assert seats[first.id]["end_user"] == "Alice Ward"
    assert seats[second.id] == {
        "id": second.id,
        "state": "failed",
        "label": "Failed",
        "note": None,
        "error": "No free extension.",
        "settled": True,
        "end_user": None,
        "end_user_email": None,
    }


def test_states_json_follows_the_seat_as_it_moves(client, as_acme_admin):
    [seat] = _voip_seats(as_acme_admin, people=[as_acme_admin.alice])
    seen = []
    for state in (SeatState.ORDERED, SeatState.PROVISIONING, SeatState.ACTIVE):
        stored = _seat(seat.id)
        stored.state = state
        db.session.commit()
        [reported] = client.get(f"/client/seats/states.json?ids={seat.id}").get_json()["seats"]
        seen.append((reported["label"], reported["settled"]))

    assert seen == [("Ordered", False), ("Provisioning", False), ("Active", True)]


def test_a_client_user_sees_only_their_own_seats_read_only(client, acme, make_user, login):
    mine, theirs = _voip_seats(acme, 2, [acme.alice, acme.bob])
    login(make_user(Role.CLIENT_USER, acme.client, email="alice@acme.example"))

    listing = client.get("/client/seats/").get_data(as_text=True)
    assert f'data-seat-id="{mine.id}"' in listing
    assert f'data-seat-id="{theirs.id}"' not in listing
    detail = client.get(f"/client/seats/{mine.id}").get_data(as_text=True)
    assert "Cancel this seat" not in detail
    assert "Reassign" not in detail
    assert client.get(f"/client/seats/{theirs.id}").status_code == 404
    states = client.get("/client/seats/states.json").get_json()["seats"]
    assert [seat["id"] for seat in states] == [mine.id]
    for action in ("cancel", "unassign", "retry"):
        assert client.post(f"/client/seats/{mine.id}/{action}").status_code == 403
    assert (
        client.post(f"/client/seats/{mine.id}/assign", data={"end_user": str(acme.bob.id)}).status_code == 403
    )
    assert _seat(mine.id).desired_state is DesiredState.ACTIVE


def test_cancelled_seats_are_hidden_until_asked_for(client, as_acme_admin):
    [seat] = _voip_seats(as_acme_admin)
    client.post(f"/client/seats/{seat.id}/cancel")
    stored = _seat(seat.id)
    if stored.state is not SeatState.TERMINATED:
        stored.state = SeatState.TERMINATED
        db.session.commit()

    assert f'data-seat-id="{seat.id}"' not in client.get("/client/seats/").get_data(as_text=True)
    assert f'data-seat-id="{seat.id}"' in client.get("/client/seats/?show=all").get_data(as_text=True)


def test_the_seat_page_says_a_failing_removal_keeps_it_authorized_and_an_extension_bills_unassigned(
    client, as_acme_admin
):

    alice = as_acme_admin.alice
    seat = place_order(TESTS, as_acme_admin.client, get_product("desktop"), 1, [alice]).seats[0]
    seat.account_end_user_id, seat.platform_user, seat.external_id = alice.id, alice.email, "ws-1"
    move(seat, SeatState.PROVISIONING)
    move(seat, SeatState.ACTIVE)
    unassign_seat(TESTS, seat)
    move(seat, SeatState.FAILED)  # the platform refused to remove Alice's desktop
    seat.last_error = "The platform refused the change."
    db.session.commit()
    since = seat.state_changed_at.strftime("%Y-%m-%d %H:%M")
    [extension] = _voip_seats(as_acme_admin)

    detail = client.get(f"/client/seats/{seat.id}").get_data(as_text=True)
    phone = client.get(f"/client/seats/{extension.id}").get_data(as_text=True)

    assert f"still authorized: removal failing since {since} UTC" in detail
    assert "still authorized" not in phone
    assert "A seat in service bills even while unassigned" in phone
    assert "bills even while unassigned" not in detail
