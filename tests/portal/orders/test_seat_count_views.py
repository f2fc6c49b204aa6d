"""Changing the number of seats of a product: more is an order, fewer cancels unassigned seats."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db
from portal.orders.models import DesiredState, Order, Seat
from provisioning import place_order

TESTS = Actor.system("tests")


def _wanted(client_id: int, code: str) -> list[Seat]:
    db.session.expire_all()
    product = get_product(code)
    return list(
        db.session.scalars(
            select(Seat).where(
                Seat.client_id == client_id,
                Seat.product_id == product.id,
                Seat.desired_state != DesiredState.TERMINATED,
            )
        )
    )


def test_the_page_shows_how_many_seats_there_are(client, as_acme_admin):
    place_order(TESTS, as_acme_admin.client, get_product("voip"), 3, [as_acme_admin.alice])
    db.session.commit()

    page = client.get("/client/catalog/voip/seats").get_data(as_text=True)

    assert re.search(r'id="current-count">3<', page)
    assert "1 assigned, 2 unassigned" in page


def test_more_seats_goes_through_the_order_confirmation(client, as_acme_admin):
    place_order(TESTS, as_acme_admin.client, get_product("voip"), 2)
    db.session.commit()

    response = client.post("/client/catalog/voip/seats", data={"count": "5"})

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "3 \N{MULTIPLICATION SIGN} Hosted VoIP Seat" in page
    assert 'action="/client/catalog/voip/order/place"' in page
    assert len(_wanted(as_acme_admin.client.id, "voip")) == 2, "nothing is ordered before confirming"


def test_fewer_seats_cancels_the_newest_unassigned_ones_after_confirming(client, as_acme_admin):
    acme = as_acme_admin
    order = place_order(TESTS, acme.client, get_product("voip"), 4, [acme.alice])
    db.session.commit()
    newest = [seat.id for seat in order.seats][-2:]

    review = client.post("/client/catalog/voip/seats", data={"count": "2"})
    page = review.get_data(as_text=True)
    assert review.status_code == 200
    assert sorted(int(i) for i in re.findall(r'name="seat_ids" value="(\d+)"', page)) == newest
    assert len(_wanted(acme.client.id, "voip")) == 4

    response = client.post("/client/catalog/voip/seats/cancel", data={"seat_ids": [str(i) for i in newest]})

    assert response.status_code == 302
    kept = _wanted(acme.client.id, "voip")
    assert len(kept) == 2
    assert acme.alice.id in {seat.end_user_id for seat in kept}


def test_fewer_seats_than_are_assigned_is_refused(client, as_acme_admin):
    acme = as_acme_admin
    place_order(TESTS, acme.client, get_product("voip"), 2, [acme.alice, acme.bob])
    db.session.commit()

    response = client.post("/client/catalog/voip/seats", data={"count": "1"})

    assert response.status_code == 422
    assert "Only 0 of your 2 seats are unassigned" in response.get_data(as_text=True)
    assert len(_wanted(acme.client.id, "voip")) == 2


def test_a_seat_assigned_since_the_confirmation_is_not_cancelled(client, as_acme_admin):
    acme = as_acme_admin
    order = place_order(TESTS, acme.client, get_product("voip"), 2)
    db.session.commit()
    seat = order.seats[1]
    client.post("/client/catalog/voip/seats", data={"count": "1"})
    client.post(f"/client/seats/{seat.id}/assign", data={"end_user": str(acme.bob.id)})

    response = client.post("/client/catalog/voip/seats/cancel", data={"seat_ids": [str(seat.id)]})

    assert response.status_code == 302
    assert len(_wanted(acme.client.id, "voip")) == 2
    assert "in the meantime; nothing was cancelled" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )


def test_bad_counts_are_field_errors(client, as_acme_admin):
    place_order(TESTS, as_acme_admin.client, get_product("voip"), 2)
    db.session.commit()

    for value, message in [
        ("2", "You have 2 already."),
        ("-1", "Zero or more."),
        ("lots", "Not a valid integer value."),
        ("503", "Add at most 500 seats at a time."),
    ]:
        response = client.post("/client/catalog/voip/seats", data={"count": value})
        assert response.status_code == 422, value
        assert message in response.get_data(as_text=True)
    assert len(db.session.scalars(select(Order)).all()) == 1


def test_cancel_with_no_seats_or_garbage_is_a_bad_request(client, as_acme_admin):
    assert client.post("/client/catalog/voip/seats/cancel", data={}).status_code == 400
    assert client.post("/client/catalog/voip/seats/cancel", data={"seat_ids": ["x"]}).status_code == 400
