"""Fault: PostgreSQL terminates the close's connection part way through a month close (a restart,
a failover). The close stops with the batches before the drop committed and the month not marked
closed; closing again completes it, and the invoices are those of a close that never saw a fault.
Needs PostgreSQL (DATABASE_URL); skipped on SQLite, whose connections cannot be dropped."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError

from metering.billing.models import BillingPeriodState
from portal.db import db
from tests.conftest import ScratchDatabases
from tests.metering.billing.test_concurrent_closes import CLIENTS, _close, _invoices, october
from tests.portal.web.test_database_outage import BackendKiller

__all__ = ["october"]
pytestmark = pytest.mark.faults


class KillerAfter(BackendKiller):
    """Lets ``after`` statements through, then terminates the backend before the next one."""

    def __init__(self, engine: Engine, admin: Engine, after: int) -> None:
        self.after = after
        super().__init__(engine, admin)

    def _kill(self, *args: Any) -> None:
        if self.remaining > 0 and self.after > 0:
            self.after -= 1
            return
        super()._kill(*args)


@pytest.fixture
def postgresql(scratch_databases: ScratchDatabases) -> None:
    if scratch_databases.backend != "postgresql":
        pytest.skip("terminates PostgreSQL backends: set DATABASE_URL to a PostgreSQL server")


@pytest.mark.parametrize("statements_before_the_drop", [2, 12, 30])
def test_a_close_whose_connection_drops_is_completed_by_closing_again(
    postgresql, october, statements_before_the_drop
):
    engine = october.extensions["seatmeter.db"].engine
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    killer = KillerAfter(engine, admin, statements_before_the_drop)
    killer.remaining = 1
    try:
        with pytest.raises(OperationalError):
            _close(october)
    finally:
        killer.close()
        admin.dispose()
    assert killer.killed == 1
    with october.app_context():
        state = db.session.get(BillingPeriodState, "2026-10")
        assert state is None or state.closed_at is None, "not closed by a close that stopped"
    partial = _invoices(october)

    again = _close(october)

    assert again.complete, again.failures
    assert again.outcomes["created"] == len(CLIENTS) - len(partial)
    assert again.outcomes["unchanged"] == len(partial)
    after = _invoices(october)
    assert [lines for _, _, lines in after] == [3] * len(CLIENTS)
    assert _close(october).outcomes == {"unchanged": len(CLIENTS)}
    assert _invoices(october) == after
