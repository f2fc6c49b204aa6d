"""Filing the SPLA report: only once the month is over, with a bounded reference."""

from __future__ import annotations

import pytest

from metering.periods import BillingPeriod
from metering.spla.filing import mark_spla_submitted
from metering.spla.services import spla_report
from portal.db import utcnow
from portal.errors import Conflict, InvalidInput
from tests.portal.reseller.conftest import OCTOBER
from tests.portal.reseller.world import SETUP, UTC_ZONE


def test_the_spla_report_is_filed_once_the_month_is_over(business):
    november = BillingPeriod(2026, 11)

    with pytest.raises(Conflict, match="not over yet"):
        mark_spla_submitted(SETUP, spla_report(november, UTC_ZONE), None, UTC_ZONE, utcnow())
    with pytest.raises(InvalidInput):
        mark_spla_submitted(SETUP, spla_report(OCTOBER, UTC_ZONE), "x" * 101, UTC_ZONE, utcnow())

    filed = mark_spla_submitted(SETUP, spla_report(OCTOBER, UTC_ZONE), "  A-1  ", UTC_ZONE, utcnow())
    assert filed.reference == "A-1" and filed.submitted_by == "tests"
