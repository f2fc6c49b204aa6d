"""Whole months in which seats move on their platforms: counting follows access, seats in service bill.

The seats are moved the way the workers move them (``engine.claim`` then ``engine.finish``), with the
platform's answer given by the test: a success, or a permanent refusal. Months are cut in UTC. Prices:
desktop $39.00 (WINRDS-SAL + OFFSTD-SAL), VoIP seat $22.00 (no licence).
"""

from __future__ import annotations

from portal.db import db
from portal.orders.models import SeatState
from provisioning import assign_seat, cancel_seat, retry_seat, suspend_client, unassign_seat
from tests.metering.months import TESTS, lines_of
from tests.metering.seat_steps import at, intervals, person, step
from tests.provisioning.conftest import order

# --- Counting follows access ------------------------------------------------------------------------


def test_a_failed_unassign_keeps_the_person_counted_until_the_platform_confirms(month, make_client, travel):
    acme = make_client("acme")
    dave = person(acme, "dave")
    travel("2026-10-01T12:00:00Z")
    seat = order(acme, "desktop", 1, [dave]).seats[0]
    assert step(seat) == "create" and seat.state is SeatState.ACTIVE

    travel("2026-10-10T12:00:00Z")
    unassign_seat(TESTS, seat)
    db.session.commit()
    # Asked, not done: Dave's desktop is still there, so he is still counted.
    assert intervals(seat)[0][2] is None
    assert step(seat, fails=True) == "unassign" and seat.state is SeatState.FAILED
    assert intervals(seat)[0][2] is None  # the removal failed: he can still log in

    travel("2026-12-03T12:00:00Z")
    retry_seat(TESTS, seat)
    db.session.commit()
    assert intervals(seat)[0][2] is None
    assert step(seat) == "unassign" and seat.state is SeatState.ORDERED
    ((key, start, stop),) = intervals(seat)
    assert key == "dave@acme.example" and at("2026-10-01T12:00:00Z") <= start < at("2026-10-01T12:01:00Z")
    assert stop is not None and stop >= at("2026-12-03T12:00:00Z")  # closed when confirmed

    travel("2027-01-05T12:00:00Z")
    for period in ("2026-10", "2026-11", "2026-12"):
        month.close(period)
        assert lines_of(month.invoice("acme", period)) == [("desktop", period, 1, 3900, 3900)]
        assert month.spla(period) == [("acme", "OFFSTD-SAL", 1), ("acme", "WINRDS-SAL", 1)]
    travel("2027-02-02T12:00:00Z")
    month.close("2027-01")
    assert month.invoices("2027-01") == []
    assert month.spla("2027-01") == []


def test_a_failed_suspension_keeps_counting_until_the_cancel_is_confirmed(month, make_client, travel):
    acme = make_client("acme")
    alice = person(acme, "alice")
    travel("2026-10-01T12:00:00Z")
    seat = order(acme, "desktop", 1, [alice]).seats[0]
    step(seat)

    travel("2026-10-20T12:00:00Z")
    suspend_client(TESTS, acme, "unpaid invoice")
    db.session.commit()
    assert seat.state is SeatState.SUSPENDING and intervals(seat)[0][2] is None
    assert step(seat, fails=True) == "suspend" and seat.state is SeatState.FAILED

    travel("2026-11-10T12:00:00Z")
    cancel_seat(TESTS, seat)  # the reseller gives up on suspending it and cancels it instead
    db.session.commit()
    assert seat.state is SeatState.TERMINATING and intervals(seat)[0][2] is None
    assert step(seat) == "terminate" and seat.state is SeatState.TERMINATED
    assert intervals(seat)[0][2] is not None

    travel("2026-12-02T12:00:00Z")
    month.close("2026-10")
    month.close("2026-11")
    for period in ("2026-10", "2026-11"):
        assert lines_of(month.invoice("acme", period)) == [("desktop", period, 1, 3900, 3900)]
        assert month.spla(period) == [("acme", "OFFSTD-SAL", 1), ("acme", "WINRDS-SAL", 1)]
    travel("2027-01-02T12:00:00Z")
    month.close("2026-12")
    assert month.invoices("2026-12") == [] and month.spla("2026-12") == []


def test_a_suspension_asked_in_october_and_done_in_november_counts_in_november(month, make_client, travel):
    acme = make_client("acme")
    travel("2026-10-01T12:00:00Z")
    seat = order(acme, "desktop", 1, [person(acme, "alice")]).seats[0]
    step(seat)
    travel("2026-10-31T23:00:00Z")
    suspend_client(TESTS, acme, "unpaid invoice")
    db.session.commit()
    travel("2026-11-01T02:00:00Z")
    assert step(seat) == "suspend" and seat.state is SeatState.SUSPENDED

    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")
    assert lines_of(month.invoice("acme", "2026-11")) == [("desktop", "2026-11", 1, 3900, 3900)]
    assert month.spla("2026-11") == [("acme", "OFFSTD-SAL", 1), ("acme", "WINRDS-SAL", 1)]


def test_a_reassigned_desktop_counts_both_people_and_the_old_one_until_the_account_is_removed(
    month, make_client, travel
):
    acme = make_client("acme")
    dave, erin = person(acme, "dave"), person(acme, "erin")
    travel("2026-10-01T12:00:00Z")
    seat = order(acme, "desktop", 1, [dave]).seats[0]
    step(seat)

    # Asked on Oct 31; Dave's WorkSpace is removed on Nov 1 and Erin's made the same day.
    travel("2026-10-31T20:00:00Z")
    assign_seat(TESTS, seat, erin)
    db.session.commit()
    assert seat.state is SeatState.PROVISIONING and intervals(seat)[0][2] is None
    travel("2026-11-01T09:00:00Z")
    assert step(seat) == "unassign"
    ((key, _start, stop),) = intervals(seat)
    assert key == "dave@acme.example" and stop is not None and stop >= at("2026-11-01T09:00:00Z")
    assert step(seat) == "create" and seat.state is SeatState.ACTIVE
    assert [row[0] for row in intervals(seat)] == ["dave@acme.example", "erin@acme.example"]

    travel("2026-12-02T12:00:00Z")
    month.close("2026-10")
    month.close("2026-11")
    assert lines_of(month.invoice("acme", "2026-10")) == [("desktop", "2026-10", 1, 3900, 3900)]
    # Dave could still log in on Nov 1, Erin from Nov 1 on: both count in November.
    assert lines_of(month.invoice("acme", "2026-11")) == [("desktop", "2026-11", 2, 3900, 7800)]
    assert month.spla("2026-11") == [("acme", "OFFSTD-SAL", 2), ("acme", "WINRDS-SAL", 2)]
