"""The reseller's months in figures: cost and seats agree with the SPLA report and the ledger."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from metering.counting import count_product_users
from metering.figures import last_months, monthly_figures
from metering.ledger.services import intervals_overlapping
from metering.periods import BillingPeriod
from metering.spla.services import spla_report
from metering.tax.services import create_tax_rate, set_client_tax
from portal.audit.services import Actor
from portal.db import db
from tests.metering.months import event
from tests.portal.reseller.conftest import OCTOBER

TESTS = Actor.system("tests")


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Pacific/Auckland"])
def test_cost_and_seats_per_month_equal_the_spla_report_and_the_ledger_in_any_zone(app, business, zone):
    tz = ZoneInfo(zone)
    months = last_months(OCTOBER, 4)
    figures = monthly_figures(months, tz, "USD")

    for month, figure in zip(months, figures, strict=True):
        report = spla_report(month, tz)
        assert figure.cost_minor == sum(line.quantity * line.unit_cost_minor for line in report.lines)
        start, stop = month.bounds(tz)
        people = count_product_users(intervals_overlapping(start, stop), start, stop)
        assert figure.seats == sum(len(users) for users in people.values())


def test_revenue_excludes_tax_whether_added_or_included(app, month, make_client, travel):
    added = make_client("added", "Added Tax Ltd")
    included = make_client("included", "Included Tax Ltd")
    set_client_tax(TESTS, added, create_tax_rate(TESTS, "VAT", "23", False, "PL").id, False, None)
    set_client_tax(TESTS, included, create_tax_rate(TESTS, "VAT incl.", "24", True, "GR").id, False, None)
    db.session.commit()
    month.events(
        event("t1", "added", "ann@added.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("t2", "included", "bob@included.example", "desktop", "start", "2026-10-03T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")

    (figure,) = monthly_figures([BillingPeriod.parse("2026-10")], ZoneInfo("UTC"), "USD")

    # Two desktops at 39.00: the added 23 % is not in the lines, the included 24 % (7.55) is taken out.
    assert month.invoice("added", "2026-10")["total_minor"] == 3900 + 897
    assert month.invoice("included", "2026-10")["tax_minor"] == 755
    assert figure.revenue_minor == 3900 + (3900 - 755)
