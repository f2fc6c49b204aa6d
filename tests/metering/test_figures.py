"""The reseller's months in figures: cost and seats agree with the SPLA report and the ledger."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from metering.counting import count_product_users
from metering.figures import last_months, monthly_figures
from metering.ledger.services import intervals_overlapping
from metering.spla.services import spla_report
from tests.portal.reseller.conftest import OCTOBER


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
