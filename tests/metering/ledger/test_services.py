"""The ledger: seat intervals open and close idempotently and are read per period."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from metering.ledger.models import LedgerInterval
from metering.ledger.services import close_seat_interval, intervals_overlapping, open_seat_interval
from portal.accounts.end_user_services import add_end_user
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db
from provisioning import place_order

ACTOR = Actor.system("tests")
OCT_1 = datetime(2026, 10, 1, tzinfo=UTC)
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)


def _seat(make_client, assigned: bool = True):
    acme = make_client("acme")
    alice = add_end_user(ACTOR, acme, "Alice", "Alice@Acme.example")
    order = place_order(ACTOR, acme, get_product("desktop"), 1, [alice] if assigned else [])
    return order.seats[0]


def test_open_is_idempotent_and_keys_the_user_by_email(catalog, make_client):
    seat = _seat(make_client)

    first = open_seat_interval(seat, datetime(2026, 10, 5, tzinfo=UTC))
    again = open_seat_interval(seat, datetime(2026, 10, 6, tzinfo=UTC))

    assert again is first
    assert first.user_key == "alice@acme.example"
    assert db.session.scalars(select(LedgerInterval)).all() == [first]


def test_unassigned_seat_grants_nothing(catalog, make_client):
    seat = _seat(make_client, assigned=False)

    assert open_seat_interval(seat, OCT_1) is None


def test_close_sets_the_stop_and_is_idempotent(catalog, make_client):
    seat = _seat(make_client)
    open_seat_interval(seat, datetime(2026, 10, 5, tzinfo=UTC))

    closed = close_seat_interval(seat, datetime(2026, 10, 20, tzinfo=UTC))

    assert closed.stop_at == datetime(2026, 10, 20, tzinfo=UTC)
    assert close_seat_interval(seat, datetime(2026, 10, 21, tzinfo=UTC)) is None


def test_interval_closed_at_its_start_is_removed(catalog, make_client):
    seat = _seat(make_client)
    open_seat_interval(seat, OCT_1)

    close_seat_interval(seat, OCT_1)

    assert db.session.scalars(select(LedgerInterval)).all() == []


def test_intervals_overlapping_a_period(catalog, make_client):
    seat = _seat(make_client)
    open_seat_interval(seat, datetime(2026, 9, 20, tzinfo=UTC))
    close_seat_interval(seat, OCT_1)  # ends exactly where October starts: not in October
    open_seat_interval(seat, datetime(2026, 10, 31, 23, 59, tzinfo=UTC))

    october = list(intervals_overlapping(OCT_1, NOV_1))

    assert [(i.client, i.end_user, i.product, i.start, i.stop) for i in october] == [
        ("acme", "alice@acme.example", "desktop", datetime(2026, 10, 31, 23, 59, tzinfo=UTC), None)
    ]
