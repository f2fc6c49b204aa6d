"""POST /orders and /seats: read, assign, unassign, retry, cancel."""

from __future__ import annotations

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from portal.db import db
from portal.orders.models import DesiredState, Order, Seat, SeatState
from tests.portal.api.conftest import error_of


def test_order_seats_and_read_them_back(acme_api):
    response = acme_api.post("/orders", {"product": "desktop", "quantity": 3})

    assert response.status_code == 201
    body = response.get_json()
    assert len(body["seats"]) == 3
    order = db.session.get(Order, body["order"])
    assert order.quantity == 3
    assert order.placed_by_token_id is not None
    seats = acme_api.get("/seats").get_json()["seats"]
    assert [seat["id"] for seat in seats] == body["seats"]
    seat = acme_api.get(f"/seats/{body['seats'][0]}").get_json()
    assert set(seat) == {
        "id",
        "product",
        "state",
        "desired_state",
        "end_user",
        "created_at",
        "activated_at",
        "last_error",
    }
    assert seat["product"] == "desktop"
    assert seat["desired_state"] == "active"
    assert seat["end_user"] is None
    assert seat["created_at"].endswith("Z")
    event = db.session.query(AuditEvent).filter_by(action="order.placed").one()
    assert event.actor_token_id is not None


def test_an_order_can_assign_its_first_seats(acme_api, acme, make_end_user):
    ann = make_end_user(acme, "Ann", "ann@acme.com")

    response = acme_api.post("/orders", {"product": "exchange", "quantity": 2, "end_users": [ann.id]})

    assert response.status_code == 201
    first = acme_api.get(f"/seats/{response.get_json()['seats'][0]}").get_json()
    assert first["end_user"] == {"id": ann.id, "name": "Ann", "email": "ann@acme.com"}


def test_a_reseller_orders_for_a_named_client(reseller_api, acme):
    response = reseller_api.post("/orders", {"client": "acme", "product": "voip", "quantity": 1})

    assert response.status_code == 201
    assert db.session.get(Seat, response.get_json()["seats"][0]).client_id == acme.id
    assert len(reseller_api.get("/seats?client=acme").get_json()["seats"]) == 1


def test_assign_reassign_and_unassign(acme_api, acme, make_end_user, make_seats):
    ann = make_end_user(acme, "Ann", "ann@acme.com")
    bob = make_end_user(acme, "Bob", "bob@acme.com")
    seat = make_seats(acme, "desktop")[0]

    assigned = acme_api.post(f"/seats/{seat.id}/assign", {"end_user": ann.id})
    assert assigned.status_code == 200
    assert assigned.get_json()["end_user"]["id"] == ann.id

    reassigned = acme_api.post(f"/seats/{seat.id}/assign", {"end_user": bob.id})
    assert reassigned.get_json()["end_user"]["id"] == bob.id

    unassigned = acme_api.post(f"/seats/{seat.id}/unassign")
    assert unassigned.status_code == 200
    assert unassigned.get_json()["end_user"] is None

    again = acme_api.post(f"/seats/{seat.id}/unassign")
    assert again.status_code == 409
    actions = [
        event.action
        for event in db.session.query(AuditEvent)
        .filter(AuditEvent.actor_token_id.is_not(None))
        .order_by(AuditEvent.id)
    ]
    # The token's first call from this address is a security event of its own.
    assert actions == ["api_token.new_address", "seat.assigned", "seat.reassigned", "seat.unassigned"]


def test_assigning_an_unknown_end_user_is_a_422(acme_api, acme, make_seats):
    seat = make_seats(acme)[0]

    response = acme_api.post(f"/seats/{seat.id}/assign", {"end_user": 424242})

    assert response.status_code == 422
    assert error_of(response)["fields"] == {"end_user": "Unknown end user."}


def test_one_desktop_per_person(acme_api, acme, make_end_user, make_seats):
    ann = make_end_user(acme, "Ann", "ann@acme.com")
    first, second = make_seats(acme, "desktop", 2)
    acme_api.post(f"/seats/{first.id}/assign", {"end_user": ann.id})

    response = acme_api.post(f"/seats/{second.id}/assign", {"end_user": ann.id})

    assert response.status_code == 409


def test_cancel_a_seat_twice_changes_nothing_the_second_time(acme_api, acme, make_seats):
    seat = make_seats(acme, "voip")[0]

    first = acme_api.delete(f"/seats/{seat.id}")
    second = acme_api.delete(f"/seats/{seat.id}")

    assert first.status_code == 200
    assert first.get_json()["desired_state"] == "terminated"
    assert second.status_code == 200
    assert db.session.query(AuditEvent).filter_by(action="seat.cancelled").count() == 1
    assert acme_api.post(f"/seats/{seat.id}/assign", {"end_user": 1}).status_code in (409, 422)


def test_retry_only_a_failed_seat(acme_api, acme, make_seats):
    seat = make_seats(acme, "voip")[0]

    assert acme_api.post(f"/seats/{seat.id}/retry").status_code == 409

    seat.state = SeatState.FAILED
    seat.last_error = "The platform said no."
    db.session.commit()
    shown = acme_api.get(f"/seats/{seat.id}").get_json()
    assert shown["state"] == "failed"
    assert shown["last_error"] == "The platform said no."

    retried = acme_api.post(f"/seats/{seat.id}/retry")
    assert retried.status_code == 200
    assert retried.get_json()["state"] != "failed"


def test_a_suspended_client_cannot_order(acme_api, acme):
    from portal.accounts.models import ClientStatus

    acme.status = ClientStatus.SUSPENDED
    db.session.commit()

    response = acme_api.post("/orders", {"product": "desktop", "quantity": 1})

    assert response.status_code == 409


def test_a_client_user_token_reads_only_its_persons_seats(
    acme, make_user, make_token, api_as, make_end_user, make_seats
):
    person = make_user(Role.CLIENT_USER, acme, email="ann@acme.com")
    ann = make_end_user(acme, "Ann", "ann@acme.com")
    bob = make_end_user(acme, "Bob", "bob@acme.com")
    mine = make_seats(acme, "exchange", 1, [ann])[0]
    theirs = make_seats(acme, "exchange", 1, [bob])[0]
    unassigned = make_seats(acme, "desktop")[0]
    api = api_as(make_token(Role.CLIENT_USER, acme, person=person))

    assert [seat["id"] for seat in api.get("/seats").get_json()["seats"]] == [mine.id]
    assert api.get(f"/seats/{mine.id}").status_code == 200
    assert api.get(f"/seats/{theirs.id}").status_code == 404
    assert api.get(f"/seats/{unassigned.id}").status_code == 404
    assert api.post("/orders", {"product": "desktop", "quantity": 1}).status_code == 403


def test_a_client_user_token_of_nobody_sees_no_seats(acme, make_token, api_as, make_seats):
    make_seats(acme)
    api = api_as(make_token(Role.CLIENT_USER, acme))

    assert api.get("/seats").get_json() == {"seats": [], "next_after": None, "next": None}


def test_cancelled_seats_keep_their_desired_state(acme_api, acme, make_seats):
    seat = make_seats(acme, "voip")[0]
    acme_api.delete(f"/seats/{seat.id}")

    db.session.refresh(seat)
    assert seat.desired_state is DesiredState.TERMINATED


def test_a_product_billed_by_use_is_not_ordered_as_seats(acme_api):
    metered = [
        product["code"]
        for product in acme_api.get("/catalog").get_json()["products"]
        if product["billing"] == "metered"
    ]
    for code in metered:
        response = acme_api.post("/orders", {"product": code, "quantity": 1})

        assert response.status_code == 422
        assert "product" in error_of(response)["fields"]


def test_seats_come_a_page_at_a_time(acme_api, acme, bright, make_seats, make_end_user):
    ann = make_end_user(acme, "Ann", "ann@acme.com")
    ids = [seat.id for seat in make_seats(acme, "exchange", 7)]
    make_seats(bright, "exchange", 3)
    assert acme_api.post(f"/seats/{ids[4]}/assign", {"end_user": ann.id}).status_code == 200

    pages, after = [], None
    while True:
        query = "?limit=3" + (f"&after={after}" if after is not None else "")
        body = acme_api.get("/seats" + query).get_json()
        pages.append([seat["id"] for seat in body["seats"]])
        after = body["next_after"]
        if after is None:
            break

    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    whole = acme_api.get("/seats").get_json()
    assert [seat["id"] for seat in whole["seats"]] == ids
    assert whole["next_after"] is None
    # A page reads the same as the seat on its own.
    assert whole["seats"][4] == acme_api.get(f"/seats/{ids[4]}").get_json()
    assert whole["seats"][4]["end_user"] == {"id": ann.id, "name": "Ann", "email": "ann@acme.com"}


def test_a_client_that_ignores_paging_gets_the_first_hundred(acme_api, acme, make_seats):
    ids = [seat.id for seat in make_seats(acme, "exchange", 101)]

    body = acme_api.get("/seats").get_json()

    assert [seat["id"] for seat in body["seats"]] == ids[:100]
    assert body["next_after"] == ids[99]
    assert [seat["id"] for seat in acme_api.get(f"/seats?after={ids[99]}").get_json()["seats"]] == ids[100:]


def test_a_page_size_out_of_range_is_a_422(acme_api):
    for query in ("?limit=0", "?limit=501", "?limit=ten", "?after=-1"):
        response = acme_api.get("/seats" + query)
        assert response.status_code == 422, query
        assert set(error_of(response)["fields"]) <= {"limit", "after"}


def test_a_phone_seat_gets_a_new_sip_password_in_the_background(acme_api, acme, make_seats):
    seat = make_seats(acme, "voip")[0]

    not_yet = acme_api.post(f"/seats/{seat.id}/sip-password")
    seat.state = SeatState.ACTIVE
    seat.external_id = f"{1000 + seat.id}@acme.voip.localhost"
    db.session.commit()
    reset = acme_api.post(f"/seats/{seat.id}/sip-password")
    twice = acme_api.post(f"/seats/{seat.id}/sip-password")

    assert not_yet.status_code == 409
    assert reset.status_code == 202
    assert reset.get_json()["state"] == "active"
    assert "password" not in str(reset.get_json())  # never sent through the API
    assert twice.status_code == 409
    assert "already being set" in error_of(twice)["message"]
    assert db.session.query(AuditEvent).filter_by(action="seat.password_reset").count() == 1


def test_a_desktop_seat_has_no_sip_password(acme_api, acme, make_seats):
    seat = make_seats(acme, "desktop")[0]

    response = acme_api.post(f"/seats/{seat.id}/sip-password")

    assert response.status_code == 409
    assert "not a phone seat" in error_of(response)["message"]
