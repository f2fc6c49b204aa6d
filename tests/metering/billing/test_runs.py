"""Running a close: each client on its own (a savepoint), committed by whichever edge drives it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from metering.billing import runs
from metering.billing.models import BillingPeriodState
from metering.billing.queries import parse_period
from metering.billing.runs import close_in_one_transaction, run_close
from metering.settings import billing_timezone
from portal.audit.services import Actor
from portal.db import db, utcnow
from portal.transactions import task_transaction
from tests.metering.months import event

TESTS = Actor.system("tests")


@pytest.fixture
def three_clients(month, make_client, travel, monkeypatch):
    """acme, bright and cedar used October; bright's close fails once its draft is written."""
    for ref in ("acme", "bright", "cedar"):
        make_client(ref)
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "bright", "dana@bright.example", "exchange", "start", "2026-10-03T09:00:00Z"),
        event("e3", "cedar", "carl@cedar.example", "desktop", "start", "2026-10-03T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    real_close_client = runs.close_client

    def close_client(actor, plan, client_id):
        outcome = real_close_client(actor, plan, client_id)
        if plan.refs[client_id] == "bright":
            # After its draft was written: only a rollback of this client alone undoes that.
            raise ValueError("no price for exchange in 2026-10")
        return outcome

    monkeypatch.setattr(runs, "close_client", close_client)
    return month


def _assert_only_bright_failed(summary, month) -> None:
    assert summary.clients == 3
    assert dict(summary.outcomes) == {"created": 2}
    assert summary.failures == {"bright": "no price for exchange in 2026-10"}
    assert [invoice["client"] for invoice in month.invoices("2026-10")] == ["acme", "cedar"]
    # The month is closed only once a close went through every client.
    assert db.session.get(BillingPeriodState, "2026-10") is None


def test_a_failing_client_is_rolled_back_alone_within_its_batch(three_clients):
    summary = run_close(
        TESTS, parse_period("2026-10"), billing_timezone(), utcnow(), transaction=task_transaction
    )

    db.session.rollback()  # everything the close did is committed already
    _assert_only_bright_failed(summary, three_clients)


def test_in_one_transaction_a_failing_client_is_rolled_back_alone_too(three_clients):
    summary = close_in_one_transaction(TESTS, parse_period("2026-10"), billing_timezone(), utcnow())
    db.session.commit()  # the caller's edge commits

    _assert_only_bright_failed(summary, three_clients)


def test_nothing_is_committed_by_the_close_itself(three_clients):
    close_in_one_transaction(TESTS, parse_period("2026-10"), billing_timezone(), utcnow())
    db.session.rollback()

    assert three_clients.invoices("2026-10") == []
    assert db.session.scalars(select(BillingPeriodState)).all() == []
