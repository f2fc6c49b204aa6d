"""Close runs: at most one running close of a month, even when two start in the same instant."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from metering.billing import close_runs
from metering.billing.models import CloseRun, CloseRunStatus
from metering.periods import BillingPeriod
from metering.settings import billing_timezone
from portal.db import db, utcnow
from portal.errors import Conflict
from tests.metering.months import TESTS

OCTOBER = BillingPeriod(2026, 10)


def test_the_database_refuses_a_second_running_close_of_a_month(month, travel, monkeypatch):
    travel("2026-11-02T12:00:00Z")
    close_runs.start_close_run(TESTS, OCTOBER, billing_timezone(), utcnow())
    db.session.commit()
    # The other request checked before the first one committed: only the unique index is left.
    monkeypatch.setattr(close_runs, "close_refusal", lambda *args: None)

    with pytest.raises(Conflict, match="being closed right now"):
        close_runs.start_close_run(TESTS, OCTOBER, billing_timezone(), utcnow())
    db.session.rollback()

    assert db.session.scalar(select(func.count(CloseRun.id))) == 1
    # A finished run does not count: the next close of the month may start.
    db.session.scalars(select(CloseRun)).one().status = CloseRunStatus.FINISHED
    db.session.commit()
    close_runs.start_close_run(TESTS, OCTOBER, billing_timezone(), utcnow())
    db.session.commit()
    assert db.session.scalar(select(func.count(CloseRun.id))) == 2
