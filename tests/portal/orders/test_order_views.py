"""Ordering seats on the web: catalog, order form, confirmation with prices, placing, history."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from portal.audit.services import Actor
from portal.catalog.services import get_product, set_product_price
from portal.db import db
from portal.orders.models import Order, Seat, SeatState
from provisioning import place_order, suspend_client

TESTS = Actor.system("tests")


def _orders() -> list[Order]:
    db.session.expire_all()
    return list(db.session.scalars(select(Order).order_by(Order.id)))


def _confirm(client, code: str, quantity: int | str, end_users: Sequence[int] = ()) -> tuple[int, str, dict]:
    """Post the order form; return the status, the page and the fields of the placing form."""
    response = client.post(
        f"/client/catalog/{code}/order", data={"quantity": str(quantity), "end_users": list(end_users)}
    )
    page = response.get_data(as_text=True)
    fields: dict[str, list[str]] = {}
    place_form = page.split('action="/client/catalog/', 1)[-1]
    for name, value in re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', place_form):
        fields.setdefault(name, []).append(value)
    for value, name in re.findall(r'<input[^>]*value="([^"]*)"[^>]*name="(\w+)"', place_form):
        fields.setdefault(name, []).append(value)
    return response.status_code, page, fields


def test_catalog_lists_products_with_monthly_prices(client, as_acme_admin):
    page = client.get("/client/catalog").get_data(as_text=True)

    assert "Hosted Desktop" in page
    assert "$39.00" in page
    assert "Office Standard SAL" in page
    assert 'href="/client/catalog/desktop/order"' in page


def test_confirmation_shows_the_price_per_assigned_seat_and_the_totals(client, as_acme_admin):
    acme = as_acme_admin

    status, page, fields = _confirm(client, "desktop", 3, [acme.alice.id])

    assert status == 200
    assert "Confirm your order" in page
    assert "Alice Ward" in page
    assert re.search(r'id="unit-price">\$39\.00<', page)
    assert re.search(r'id="total-assigned"><strong>\$39\.00<', page)
    assert re.search(r'id="total-all">\$117\.00<', page)
    assert "2 unassigned" in page
    assert fields["quantity"] == ["3"] and fields["end_users"] == [str(acme.alice.id)]
    assert _orders() == [], "the confirmation places nothing"


def test_placing_the_order_creates_the_seats_and_assigns_the_people(client, as_acme_admin):
    acme = as_acme_admin
    _, _, fields = _confirm(client, "desktop", 3, [acme.alice.id])

    response = client.post("/client/catalog/desktop/order/place", data=fields)

    [order] = _orders()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/client/orders/{order.id}"
    assert (order.client_id, order.quantity, order.unit_price_minor) == (acme.client.id, 3, 3900)
    assert order.placed_by_user_id == acme.admin.id
    assert [seat.end_user_id for seat in order.seats] == [acme.alice.id, None, None]
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Order #{order.id} is placed" in detail
    assert detail.count('class="seat-status"') == 3
    assert "client.js" in detail


def test_a_confirmation_places_one_order_however_often_it_is_sent(client, as_acme_admin):
    _, _, fields = _confirm(client, "exchange", 2)

    first = client.post("/client/catalog/exchange/order/place", data=fields)
    second = client.post("/client/catalog/exchange/order/place", data=fields)

    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == "/client/orders"
    assert len(_orders()) == 1
    assert "nothing was ordered twice" in client.get("/client/orders").get_data(as_text=True)


def test_the_price_is_read_from_the_catalog_when_placing_not_from_the_page(client, as_acme_admin):
    _, _, fields = _confirm(client, "desktop", 1)
    set_product_price(TESTS, get_product("desktop"), 4500)
    db.session.commit()

    response = client.post("/client/catalog/desktop/order/place", data=fields)

    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "The price changed since you looked" in page
    assert re.search(r'id="unit-price">\$45\.00<', page)
    assert _orders() == []


def test_a_tampered_quoted_price_does_not_change_what_is_charged(client, as_acme_admin):
    _, _, fields = _confirm(client, "desktop", 1)

    response = client.post("/client/catalog/desktop/order/place", data={**fields, "quoted_unit_minor": ["1"]})

    assert response.status_code == 409
    assert _orders() == []
    _, _, fresh = _confirm(client, "desktop", 1)
    client.post("/client/catalog/desktop/order/place", data=fresh)
    assert [order.unit_price_minor for order in _orders()] == [3900]


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("0", "From 1 to 500 seats per order."),
        ("501", "From 1 to 500 seats per order."),
        ("-4", "From 1 to 500 seats per order."),
        ("three", "Not a valid integer value."),
        ("", "Say how many seats."),
        ("1e3", "Not a valid integer value."),
    ],
)
def test_a_bad_quantity_is_shown_next_to_the_field(client, as_acme_admin, quantity, message):
    status, page, _ = _confirm(client, "desktop", quantity)

    assert status == 422
    assert message in page
    assert 'class="field has-error"' in page


def test_more_people_than_seats_is_refused(client, as_acme_admin):
    acme = as_acme_admin

    status, page, _ = _confirm(client, "exchange", 1, [acme.alice.id, acme.bob.id])

    assert status == 422
    assert "Choose at most 1: one person per seat." in page


def test_another_clients_person_cannot_be_assigned(client, as_acme_admin, other):
    status, page, _ = _confirm(client, "voip", 1, [other.alice.id])

    assert status == 422
    assert "Mallory" not in page
    response = client.post(
        "/client/catalog/voip/order/place",
        data={"quantity": "1", "end_users": [str(other.alice.id)], "quoted_unit_minor": "2200", "nonce": "x"},
    )
    assert response.status_code == 422
    assert _orders() == []


def test_someone_with_a_desktop_cannot_get_a_second_one(client, as_acme_admin):
    acme = as_acme_admin
    place_order(TESTS, acme.client, get_product("desktop"), 1, [acme.alice])
    db.session.commit()

    status, page, _ = _confirm(client, "desktop-pro", 1, [acme.alice.id])

    assert status == 422
    assert "Already has a desktop seat: Alice Ward" in page


def test_a_second_voip_seat_for_the_same_person_is_counted_once(client, as_acme_admin):
    acme = as_acme_admin
    place_order(TESTS, acme.client, get_product("voip"), 1, [acme.alice])
    db.session.commit()

    _, page, _ = _confirm(client, "voip", 1, [acme.alice.id])

    assert "counted once, so no extra charge" in page
    assert re.search(r'id="total-assigned"><strong>\$0\.00<', page)


def test_a_suspended_client_sees_why_the_order_is_refused(client, as_acme_admin):
    _, _, fields = _confirm(client, "exchange", 1)
    suspend_client(TESTS, as_acme_admin.client, "unpaid invoice")
    db.session.commit()

    response = client.post("/client/catalog/exchange/order/place", data=fields)

    assert response.status_code == 409
    assert "is suspended" in response.get_data(as_text=True)
    assert _orders() == []


def test_unknown_or_retired_products_are_404(client, as_acme_admin):
    product = get_product("exchange-plus")
    product.active = False
    db.session.commit()

    assert client.get("/client/catalog/nope/order").status_code == 404
    assert client.get("/client/catalog/exchange-plus/order").status_code == 404
    assert "Hosted Exchange Mailbox with Outlook" not in client.get("/client/catalog").get_data(as_text=True)


def test_order_history_lists_orders_with_who_placed_them_and_seat_states(client, as_acme_admin):
    acme = as_acme_admin
    first = place_order(TESTS, acme.client, get_product("voip"), 2)
    _, _, fields = _confirm(client, "exchange", 1)
    client.post("/client/catalog/exchange/order/place", data=fields)
    first.seats[0].state = SeatState.FAILED
    db.session.commit()

    page = client.get("/client/orders").get_data(as_text=True)

    newest, oldest = _orders()[1], first
    assert page.index(f"#{newest.id}") < page.index(f"#{oldest.id}")
    assert "grace@acme.example" in page
    assert "your provider" in page
    assert "1 failed" in page
    assert client.get("/client/orders?page=abc").status_code == 200
    assert client.get("/client/orders?page=-3").status_code == 200
    assert client.get(f"/client/orders?page={10**30}").status_code == 200


def test_the_order_detail_shows_its_seats_with_their_state(client, as_acme_admin):
    order = place_order(TESTS, as_acme_admin.client, get_product("voip"), 2)
    db.session.commit()

    page = client.get(f"/client/orders/{order.id}").get_data(as_text=True)

    for seat in order.seats:
        assert f'data-seat-id="{seat.id}"' in page
    assert db.session.scalar(select(func.count(Seat.id))) == 2


def test_metered_products_are_priced_but_not_ordered(client, as_acme_admin):
    page = client.get("/client/catalog").get_data(as_text=True)

    assert "Billed by use" in page
    assert "$0.02 per minute" in page
    assert 'href="/client/catalog/voip-minutes/order"' not in page
    assert client.get("/client/catalog/voip-minutes/order").status_code == 404
    assert client.get("/client/catalog/voip-minutes/seats").status_code == 404


def test_the_voip_order_says_before_ordering_that_a_seat_in_service_bills_while_unassigned(
    client, as_acme_admin
):
    form = client.get("/client/catalog/voip/order").get_data(as_text=True)
    assert "A seat in service bills even while unassigned" in form
    desktop_form = client.get("/client/catalog/desktop/order").get_data(as_text=True)
    assert "bills even while unassigned" not in desktop_form  # a desktop waits for its person

    _, page, _ = _confirm(client, "voip", 3, [as_acme_admin.alice.id])

    assert "A seat in service bills even while unassigned" in page
    # Alice's extension and the two unassigned ones are all in service from the start: 3 x $22.00.
    assert re.search(r'id="total-in-service"><strong>\$66\.00<', page)
    assert re.search(r'id="month-with-order">\$66\.00<', page)
