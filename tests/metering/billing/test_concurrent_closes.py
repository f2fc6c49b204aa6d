"""Fault: two closes of one month at the same time (two operators, or a command-line close while the
console's runs), each in its own thread with its own connections to a committed database. One set
of invoices comes out, each client's once, equal to what one close alone writes."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager

import pytest
from flask import Flask
from sqlalchemy import func, select

from metering.billing.models import Invoice, InvoiceLine
from metering.billing.queries import parse_period
from metering.billing.runs import WRITTEN_BY_ANOTHER_CLOSE, CloseSummary, run_close
from metering.settings import billing_timezone
from portal import create_app
from portal.accounts.services import create_client
from portal.catalog.services import seed_catalog
from portal.db import db, utcnow
from portal.transactions import task_transaction
from tests.conftest import ScratchDatabases, app_overrides
from tests.metering.months import TESTS, Month, event

pytestmark = pytest.mark.faults
CLIENTS = ["acme", "bolt", "cove", "dune", "echo", "fern"]


@pytest.fixture
def october(scratch_databases: ScratchDatabases, tmp_path, travel) -> Iterator[Flask]:
    """Six clients with October's usage, on a database whose commits are real; the clock in November."""
    url = scratch_databases.create_migrated(f"two_closes_{secrets.token_hex(4)}")
    app = create_app(app_overrides(url, tmp_path / "instance"))
    with app.app_context():
        seed_catalog(TESTS)
        events = []
        for number, ref in enumerate(CLIENTS):
            create_client(TESTS, ref, ref.title())
            for person in range(number + 1):
                user = f"p{person}@{ref}.example"
                events.append(
                    event(f"{ref}-d{person}", ref, user, "desktop", "start", "2026-10-03T09:00:00Z")
                )
                events.append(
                    event(f"{ref}-x{person}", ref, user, "exchange", "start", "2026-10-10T09:00:00Z")
                )
            events.append(event(f"{ref}-v", ref, None, "voip-minutes", "usage", "2026-10-05T09:00:00Z", 61))
        db.session.commit()
        Month().events(*events)
    travel("2026-11-02T12:00:00Z")
    yield app
    app.extensions["seatmeter.db"].engine.dispose()


def _close(
    app: Flask, transaction: Callable[[], AbstractContextManager[object]] = task_transaction
) -> CloseSummary:
    with app.app_context():
        return run_close(
            TESTS,
            parse_period("2026-10"),
            billing_timezone(),
            utcnow(),
            transaction=transaction,
            batch_size=2,
        )


def _invoices(app: Flask) -> list[tuple[int, int, int]]:
    with app.app_context():
        rows = db.session.execute(
            select(Invoice.client_id, Invoice.total_minor, func.count(InvoiceLine.id))
            .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
            .where(Invoice.period == "2026-10")
            .group_by(Invoice.id, Invoice.client_id, Invoice.total_minor)
            .order_by(Invoice.client_id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_two_closes_of_a_month_at_once_write_one_set_of_invoices(october):
    together = threading.Barrier(2, timeout=30)

    def aligned() -> Callable[[], AbstractContextManager[object]]:
        """The close's own transactions, but the first batch starts when the other close has read the
        month too (between transactions: SQLite lets one writer in at a time)."""
        opened = {"count": 0}

        @contextmanager
        def transaction() -> Iterator[None]:
            opened["count"] += 1
            if opened["count"] == 2:
                together.wait()
            with task_transaction():
                yield

        return transaction

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_close, october, aligned()) for _ in range(2)]
        summaries = [future.result(timeout=120) for future in futures]
    after_both = _invoices(october)

    written = sum(summary.outcomes["created"] for summary in summaries)
    assert written == len(CLIENTS), [(summary.outcomes, summary.failures) for summary in summaries]
    # The close that lost a race for a client says so in plain words (PostgreSQL; SQLite lets one
    # close write at a time, so there nothing is lost to the other).
    reasons = {reason for summary in summaries for reason in summary.failures.values()}
    assert reasons <= {WRITTEN_BY_ANOTHER_CLOSE}, reasons
    assert len(after_both) == len(CLIENTS)
    assert len({client_id for client_id, _, _ in after_both}) == len(CLIENTS), "one invoice per client"
    # A close alone now finds every draft as it would write it: nothing lost, nothing doubled.
    alone = _close(october)
    assert dict(alone.outcomes) == {"unchanged": len(CLIENTS)}, alone.failures
    assert _invoices(october) == after_both
    # Desktops, mailboxes and VoIP minutes: one line each, never two.
    assert [lines for _, _, lines in after_both] == [3] * len(CLIENTS)
