"""Prices and SPLA costs take effect from a month: a month is billed and reported at its own prices.

Played as the reseller would: usage arrives, the reseller changes a price or a cost (with the
command line's ``--from`` month or its default, the next month), and months are closed again.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from metering.billing.prices import change_price, change_sku_cost
from metering.figures import monthly_figures
from metering.periods import BillingPeriod
from metering.spla.services import SplaLine, spla_report
from portal.catalog.services import get_product, get_sku
from portal.db import db, utcnow
from portal.errors import InvalidInput
from tests.metering.months import TESTS, event, lines_of

UTC_ZONE = ZoneInfo("UTC")


@pytest.fixture
def clients(make_client):
    return make_client("acme")


def _price(code: str, amount_minor: int, from_month: str | None) -> BillingPeriod:
    month = change_price(TESTS, get_product(code), amount_minor, from_month, utcnow(), UTC_ZONE)
    db.session.commit()
    return month


def _alice_from_october(month) -> None:
    month.events(event("a1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))


def test_a_price_raised_from_next_month_leaves_this_months_draft_unchanged(month, clients, travel):
    _alice_from_october(month)
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")

    # Nov 2, October still a draft: the raise is for December, the default month.
    assert _price("desktop", 4500, None) == BillingPeriod(2026, 12)

    assert month.close("2026-10").outcomes == {"unchanged": 1}
    assert lines_of(month.invoice("acme", "2026-10")) == [("desktop", "2026-10", 1, 3900, 3900)]
    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")
    assert lines_of(month.invoice("acme", "2026-11")) == [("desktop", "2026-11", 1, 3900, 3900)]
    travel("2027-01-02T12:00:00Z")
    month.close("2026-12")
    assert lines_of(month.invoice("acme", "2026-12")) == [("desktop", "2026-12", 1, 4500, 4500)]


def test_a_price_from_next_month_bills_next_month(month, clients, travel):
    _alice_from_october(month)
    travel("2026-10-20T12:00:00Z")
    _price("desktop", 4500, "2026-11")

    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")

    assert lines_of(month.invoice("acme", "2026-10")) == [("desktop", "2026-10", 1, 3900, 3900)]
    assert lines_of(month.invoice("acme", "2026-11")) == [("desktop", "2026-11", 1, 4500, 4500)]


def test_a_change_mid_month_reprices_the_running_month_only_when_named(month, clients, travel):
    _alice_from_october(month)
    travel("2026-10-15T12:00:00Z")
    _price("desktop", 4500, None)  # November on
    _price("exchange", 950, "2026-10")  # named: October itself
    month.events(event("b1", "acme", "bob@acme.example", "exchange", "start", "2026-10-16T09:00:00Z"))

    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")

    assert lines_of(month.invoice("acme", "2026-10")) == [
        ("desktop", "2026-10", 1, 3900, 3900),
        ("exchange", "2026-10", 1, 950, 950),
    ]


def test_a_month_with_finalized_invoices_is_refused_and_nothing_is_saved(month, clients, travel):
    _alice_from_october(month)
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")

    for named in ("2026-10", "2026-09"):
        with pytest.raises(InvalidInput, match=r"^2026-10 has finalized invoices.*choose 2026-11 or later"):
            _price("desktop", 4500, named)
        db.session.rollback()

    assert [(row.effective_from, row.amount_minor) for row in get_product("desktop").prices] == [
        ("2000-01", 3900)
    ]
    assert month.invoice("acme", "2026-10")["total_minor"] == 3900


def test_late_usage_for_a_finalized_month_is_adjusted_at_that_months_price(month, clients, travel):
    _alice_from_october(month)
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    _price("desktop", 4500, "2026-11")
    month.events(event("b1", "acme", "bob@acme.example", "desktop", "start", "2026-10-20T09:00:00Z"))

    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")

    assert lines_of(month.invoice("acme", "2026-11")) == [
        ("desktop", "2026-11", 2, 4500, 9000),
        ("desktop", "2026-10", 1, 3900, 3900),  # bob's October, at October's price
    ]


def test_octobers_spla_report_and_margins_keep_octobers_costs(month, clients, travel):
    _alice_from_october(month)
    travel("2026-11-02T12:00:00Z")
    october = [(line.sku, line.quantity, line.unit_cost_minor) for line in _spla("2026-10")]
    figures = monthly_figures([BillingPeriod(2026, 10)], UTC_ZONE, "USD")

    # In November the distributor's RDS SAL price goes up, from November.
    change_sku_cost(TESTS, get_sku("WINRDS-SAL"), 600, "2026-11", utcnow(), UTC_ZONE)
    db.session.commit()

    assert october == [("OFFSTD-SAL", 1, 1310), ("WINRDS-SAL", 1, 520)]
    assert [(line.sku, line.quantity, line.unit_cost_minor) for line in _spla("2026-10")] == october
    assert monthly_figures([BillingPeriod(2026, 10)], UTC_ZONE, "USD") == figures
    assert [(line.sku, line.unit_cost_minor) for line in _spla("2026-11")] == [
        ("OFFSTD-SAL", 1310),
        ("WINRDS-SAL", 600),
    ]


def _spla(period: str) -> list[SplaLine]:
    return spla_report(BillingPeriod.parse(period), UTC_ZONE).lines
