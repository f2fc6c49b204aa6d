"""The client's dashboard: seats by product and state, end users, this month's cost so far (counted
from the licence ledger like the month close), recent activity; a client user sees only their seats."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from metering.ledger.services import close_seat_interval, open_seat_interval
from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Role
from portal.audit.services import Actor
from portal.catalog.services import get_product, set_product_price
from portal.db import db, utcnow
from portal.orders.models import SeatState
from portal.web.dashboard import month_so_far
from provisioning import place_order

TESTS = Actor.system("tests")


@pytest.fixture
def acme(catalog, make_client):
    client = make_client("acme", "Acme Law LLP")
    people = [
        add_end_user(TESTS, client, name, f"{name.lower()}@acme.example")
        for name in ("Alice", "Bob", "Carol", "Dave")
    ]
    db.session.commit()
    return client, people


def _active(seat, since: datetime) -> None:
    seat.state = SeatState.ACTIVE
    open_seat_interval(seat, since)


def test_month_so_far_counts_every_person_who_held_a_product_this_month(acme):
    client, (alice, bob, carol, dave) = acme
    now = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    desktops = place_order(TESTS, client, get_product("desktop"), 2, [alice, bob]).seats
    voip = place_order(TESTS, client, get_product("voip"), 1, [dave]).seats[0]
    _active(desktops[0], datetime(2026, 9, 1, tzinfo=UTC))  # since last month: counts
    _active(desktops[1], datetime(2026, 10, 3, tzinfo=UTC))
    close_seat_interval(desktops[1], datetime(2026, 10, 10, tzinfo=UTC))  # Bob held it a week
    desktops[1].end_user = carol
    open_seat_interval(desktops[1], datetime(2026, 10, 10, tzinfo=UTC))  # then Carol: both count
    _active(voip, datetime(2026, 8, 1, tzinfo=UTC))
    close_seat_interval(voip, datetime(2026, 9, 30, tzinfo=UTC))  # ended last month: not counted
    db.session.commit()

    month = month_so_far(client, now)

    assert str(month.period) == "2026-10"
    assert [(line.product, line.quantity, line.amount_minor) for line in month.lines] == [
        ("desktop", 3, 11700)
    ]
    assert month.totals == {"USD": 11700}


def test_month_so_far_uses_todays_price(acme):
    client, (alice, *_) = acme
    _active(place_order(TESTS, client, get_product("exchange"), 1, [alice]).seats[0], utcnow() - timedelta(1))
    set_product_price(TESTS, get_product("exchange"), 950)
    db.session.commit()

    assert month_so_far(client).totals == {"USD": 950}


def test_month_so_far_cuts_months_in_the_billing_time_zone(app, acme):
    client, (alice, *_) = acme
    _active(
        place_order(TESTS, client, get_product("exchange"), 1, [alice]).seats[0],
        datetime(2026, 2, 27, tzinfo=UTC),
    )
    db.session.commit()
    app.config["BILLING_TIMEZONE"] = "America/New_York"

    # 03:00 UTC on 1 March is still 28 February in New York.
    month = month_so_far(client, datetime(2026, 3, 1, 3, 0, tzinfo=UTC))

    assert str(month.period) == "2026-02"
    assert month.totals == {"USD": 800}


def test_an_admin_sees_seats_people_cost_and_activity(client, acme, make_user, login, make_client):
    tenant, (alice, bob, *_) = acme
    desktops = place_order(TESTS, tenant, get_product("desktop"), 3, [alice, bob]).seats
    _active(desktops[0], utcnow() - timedelta(minutes=5))
    desktops[2].state = SeatState.FAILED
    desktops[2].last_error = "No WorkSpaces bundle is configured."
    stranger = make_client("other")
    add_end_user(TESTS, stranger, "Mallory", "mallory@other.example")
    db.session.commit()
    login(make_user(Role.CLIENT_ADMIN, tenant))

    page = client.get("/client/").get_data(as_text=True)

    row = page.split('id="count-desktop"')[1].split("</tr>")[0]
    assert "1 active" in row
    assert "1 ordered" in row
    assert "1 failed" in row
    assert re.search(r'id="end-user-total">4<', page)
    assert re.search(r'id="month-so-far"><span class="figure">\$39\.00<', page)
    assert "No WorkSpaces bundle is configured." in page
    assert "order.placed" in page
    assert "mallory" not in page.lower()


def test_a_client_user_sees_only_their_own_seats(client, acme, make_user, login):
    tenant, (alice, bob, *_) = acme
    place_order(TESTS, tenant, get_product("voip"), 2, [alice, bob])
    db.session.commit()
    login(make_user(Role.CLIENT_USER, tenant, email="alice@acme.example"))

    page = client.get("/client/").get_data(as_text=True)

    assert "Your seats" in page
    assert "Alice" in page
    assert "bob@acme.example" not in page
    assert "so far" not in page
    assert "order.placed" not in page
