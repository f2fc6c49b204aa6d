"""Committed seats: the close bills max(commitment, users), the users above it as a true-up line."""

from __future__ import annotations

import pytest

from metering.adjustments import Billed, rate_adjustments
from metering.commitments.services import add_commitment, committed_quantities, end_commitment
from metering.periods import BillingPeriod
from metering.rating import Price, rate_seat_products
from portal.catalog.services import get_product
from portal.db import db
from portal.errors import Conflict, InvalidInput
from tests.metering.months import event, lines_of
from tests.provisioning.trueup.conftest import TESTS

OCTOBER = BillingPeriod(2026, 10)
PRICES = {"desktop": Price(3900, "USD"), "exchange": Price(800, "USD")}


def descriptions(lines):
    return [(line.product, line.quantity, line.description) for line in lines]


def test_rating_bills_the_commitment_and_the_users_above_it_as_a_true_up():
    users = {
        ("acme", "desktop"): {"a", "b", "c", "d", "e"},
        ("acme", "exchange"): {"a"},
        ("zen", "desktop"): {"z"},
    }
    lines = rate_seat_products(
        users,
        PRICES,
        OCTOBER,
        {"desktop": "Hosted Desktop"},
        {("acme", "desktop"): 3, ("idle", "desktop"): 2},
    )
    assert descriptions(lines) == [
        ("desktop", 3, "Hosted Desktop — 3 users committed, October 2026"),
        ("desktop", 2, "Hosted Desktop — true-up: 2 users above the commitment, October 2026"),
        ("exchange", 1, "exchange — 1 user, October 2026"),
        ("desktop", 2, "Hosted Desktop — 2 users committed, October 2026"),  # nobody used it: still owed
        ("desktop", 1, "Hosted Desktop — 1 user, October 2026"),
    ]
    assert [line.client for line in lines] == ["acme", "acme", "acme", "idle", "zen"]
    assert sum(line.amount_minor for line in lines) == (3 + 2 + 2 + 1) * 3900 + 800
    with pytest.raises(ValueError, match="positive"):
        rate_seat_products({}, PRICES, OCTOBER, None, {("acme", "desktop"): 0})


def test_adjustments_never_go_below_the_commitment():
    billed = {"desktop": Billed(3, 3900, "USD")}
    # One more user late, still under the commitment of 3: nothing more is owed, nothing given back.
    assert rate_adjustments("acme", OCTOBER, {"desktop": 2}, billed, PRICES, commitments={"desktop": 3}) == []
    (line,) = rate_adjustments("acme", OCTOBER, {"desktop": 4}, billed, PRICES, commitments={"desktop": 3})
    assert (line.quantity, line.amount_minor) == (1, 3900)


def test_month_close_with_commitments(app, month, travel, make_client):
    acme, idle = make_client("acme"), make_client("idle")
    desktop = get_product("desktop")
    add_commitment(TESTS, acme, desktop, 3, OCTOBER)
    add_commitment(TESTS, idle, desktop, 2, OCTOBER, BillingPeriod(2026, 10))
    db.session.commit()
    month.events(event("a", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T09:00:00Z")

    month.close("2026-10")
    assert lines_of(month.invoice("acme", "2026-10")) == [("desktop", "2026-10", 3, 3900, 11700)]
    assert lines_of(month.invoice("idle", "2026-10")) == [("desktop", "2026-10", 2, 3900, 7800)]
    month.finalize("2026-10")

    # November: five people (alice goes on) and, late, three more for October (four in all).
    month.events(
        *[
            event(f"n{i}", "acme", f"u{i}@acme.example", "desktop", "start", "2026-11-05T09:00:00Z")
            for i in range(4)
        ],
        *[
            event(f"o{i}", "acme", f"late{i}@acme.example", "desktop", "start", "2026-10-20T09:00:00Z")
            for i in range(3)
        ],
    )
    travel("2026-12-02T09:00:00Z")
    month.close("2026-11")
    november = month.invoice("acme", "2026-11")
    assert lines_of(november) == [
        ("desktop", "2026-11", 3, 3900, 11700),
        # alice, the four new people and the three late ones all still hold it in November
        ("desktop", "2026-11", 5, 3900, 19500),
        ("desktop", "2026-10", 1, 3900, 3900),  # October counts 4 now, 3 were billed
    ]
    assert "true-up" in month.invoice_row(acme.id, "2026-11").lines[1].description
    assert not any(invoice["client"] == "idle" for invoice in month.invoices("2026-11"))  # it ended


def test_commitments_do_not_overlap_and_end(app, catalog, make_client):
    acme = make_client("acme")
    desktop = get_product("desktop")
    first = add_commitment(TESTS, acme, desktop, 3, OCTOBER)
    with pytest.raises(Conflict):
        add_commitment(TESTS, acme, desktop, 5, BillingPeriod(2027, 1))
    with pytest.raises(InvalidInput):
        add_commitment(TESTS, acme, get_product("voip-minutes"), 5, OCTOBER)
    with pytest.raises(InvalidInput):
        add_commitment(TESTS, acme, get_product("exchange"), 0, OCTOBER)
    end_commitment(TESTS, first, BillingPeriod(2026, 12))
    add_commitment(TESTS, acme, desktop, 5, BillingPeriod(2027, 1))
    assert committed_quantities(BillingPeriod(2026, 12)) == {acme.id: {"desktop": 3}}
    assert committed_quantities(BillingPeriod(2027, 6)) == {acme.id: {"desktop": 5}}
    assert committed_quantities(BillingPeriod(2026, 9)) == {}
