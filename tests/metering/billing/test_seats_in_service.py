"""Whole months of seats in service: a seat active on its platform bills, with or without a person.

A seat with nobody assigned (a VoIP extension is active from the start) bills one unit of its product
for each month it was in service, unless a person counted for the product held it that month. SPLA
SALs stay per distinct person. Months are cut in UTC; a VoIP seat is $22.00 and carries no licence.
"""

from __future__ import annotations

from sqlalchemy import select

from metering.billing.models import Invoice
from metering.billing.review_rows import line_details, month_review
from metering.periods import BillingPeriod
from metering.settings import billing_timezone
from portal.db import db, utcnow
from portal.orders.models import SeatState
from portal.reseller.dashboard import run_rate
from provisioning import assign_seat, cancel_seat, unassign_seat
from tests.metering.months import TESTS, lines_of
from tests.metering.seat_steps import intervals, person, step
from tests.provisioning.conftest import order


def test_three_active_unassigned_voip_seats_bill_three_units_and_no_sal(month, make_client, travel):
    acme = make_client("acme")
    travel("2026-09-28T12:00:00Z")
    seats = order(acme, "voip", 3).seats
    for seat in seats:
        assert step(seat) == "create" and seat.state is SeatState.ACTIVE

    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")

    invoice = month.invoice("acme", "2026-10")
    assert lines_of(invoice) == [("voip", "2026-10", 3, 2200, 6600)]
    assert invoice["total_minor"] == 6600
    assert month.spla("2026-10") == []  # a seat with nobody holds no SAL


def test_a_voip_seat_held_by_a_person_all_month_bills_one_unit(month, make_client, travel):
    acme = make_client("acme")
    alice = person(acme, "alice")
    travel("2026-09-28T12:00:00Z")
    held = order(acme, "voip", 1, [alice]).seats[0]
    step(held)
    # Bob's extension: nobody until Oct 10, Bob until Oct 20, nobody again after: one unit.
    bob = person(acme, "bob")
    handed = order(acme, "voip").seats[0]
    step(handed)
    travel("2026-10-10T12:00:00Z")
    assign_seat(TESTS, handed, bob)
    db.session.commit()
    travel("2026-10-20T12:00:00Z")
    unassign_seat(TESTS, handed)
    db.session.commit()

    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")

    assert lines_of(month.invoice("acme", "2026-10")) == [("voip", "2026-10", 2, 2200, 4400)]
    assert [row[0] for row in intervals(held)] == ["alice@acme.example"]
    assert [row[0] for row in intervals(handed)] == [None, "bob@acme.example", None]


def test_a_voip_seat_bills_until_its_cancellation_is_confirmed(month, make_client, travel):
    acme = make_client("acme")
    travel("2026-09-28T12:00:00Z")
    seat = order(acme, "voip").seats[0]
    step(seat)
    travel("2026-10-31T22:00:00Z")
    cancel_seat(TESTS, seat)
    db.session.commit()
    assert seat.state is SeatState.TERMINATING
    travel("2026-11-01T01:00:00Z")
    assert step(seat) == "terminate" and seat.state is SeatState.TERMINATED

    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")
    month.close("2026-10")
    assert lines_of(month.invoice("acme", "2026-10")) == [("voip", "2026-10", 1, 2200, 2200)]
    assert lines_of(month.invoice("acme", "2026-11")) == [("voip", "2026-11", 1, 2200, 2200)]


def test_the_reviewer_and_the_run_rate_read_a_month_with_seats_in_service(month, make_client, travel):

    acme = make_client("acme")
    alice = person(acme, "alice")
    travel("2026-09-28T12:00:00Z")
    for seat in [*order(acme, "voip", 2).seats, *order(acme, "voip", 1, [alice]).seats]:
        step(seat)
    assert (run_rate(utcnow(), "USD").total_minor) == 3 * 2200  # two unassigned extensions and Alice's

    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    tz = billing_timezone()
    (invoice,) = db.session.scalars(select(Invoice)).all()
    (detail,) = line_details(invoice, tz)
    assert detail.line.quantity == 3
    assert [holder.person.key for holder in detail.holders] == ["alice@acme.example"]  # people only
    assert month_review(BillingPeriod(2026, 10), tz) is not None
