"""Closing clients a batch at a time: the same drafts as one by one, and one bad client blocks nobody."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from metering.billing import runs
from metering.billing.models import Invoice, InvoiceLine
from metering.billing.queries import parse_period
from metering.billing.runs import (
    WRITTEN_BY_ANOTHER_CLOSE,
    close_clients,
    close_clients_one_by_one,
    finish_close,
    start_close,
)
from metering.ledger.models import LedgerInterval
from metering.settings import billing_timezone
from portal.accounts.models import Client
from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.db import db, utcnow
from portal.transactions import task_transaction
from tests.metering.months import event, every_column_of, lines_of

TESTS = Actor.system("tests")
REFS = ("acme", "bright", "cedar", "delta", "echo")


@pytest.fixture
def five_clients(month, make_client, travel):
    """Five clients with October usage: Alice and Bob on desktops, Alice with a mailbox too."""
    for ref in REFS:
        make_client(ref)
    month.events(
        *(
            event(f"{ref}-{n}", ref, f"{person}@{ref}.example", product, "start", "2026-10-03T09:00:00Z")
            for ref in REFS
            for n, (person, product) in enumerate(
                [("alice", "desktop"), ("bob", "desktop"), ("alice", "exchange")]
            )
        )
    )
    travel("2026-11-02T12:00:00Z")
    return month


def _client_id(ref: str) -> int:
    return db.session.scalars(select(Client.id).where(Client.ref == ref)).one()


def test_a_batch_writes_exactly_what_clients_closed_one_at_a_time_write(five_clients, monkeypatch):
    with task_transaction():
        plan, summary = start_close(parse_period("2026-10"), billing_timezone(), utcnow())
        close_clients_one_by_one(TESTS, plan, plan.client_ids, summary)
    assert summary.outcomes == {"created": 5}
    one_at_a_time = every_column_of("2026-10")
    db.session.execute(delete(InvoiceLine))
    db.session.execute(delete(Invoice))
    db.session.commit()

    monkeypatch.setattr(runs, "BATCH_SIZE", 2)
    assert five_clients.close("2026-10").outcomes == {"created": 5}

    assert every_column_of("2026-10") == one_at_a_time
    assert [found[0] for found in one_at_a_time] == list(REFS)
    assert [lines_of(invoice) for invoice in five_clients.invoices("2026-10")] == [
        lines_of(five_clients.invoice("acme", "2026-10"))
    ] * 5
    assert [quantity for _, _, quantity, _, _ in lines_of(five_clients.invoice("acme", "2026-10"))] == [2, 1]


def test_a_rerun_in_one_batch_keeps_rebuilds_and_removes_drafts_and_says_so(five_clients):
    five_clients.close("2026-10")
    ids = {invoice["client"]: invoice["id"] for invoice in five_clients.invoices("2026-10")}
    five_clients.events(
        event("bright-3", "bright", "carol@bright.example", "desktop", "start", "2026-10-20T09:00:00Z")
    )
    # Echo's seats turn out never to have been granted (the ledger corrected): nothing left to bill.
    db.session.execute(delete(LedgerInterval).where(LedgerInterval.client_id == _client_id("echo")))
    db.session.commit()

    summary = five_clients.close("2026-10")

    assert summary.outcomes == {"unchanged": 3, "rebuilt": 1, "removed": 1}
    after = {invoice["client"]: invoice for invoice in five_clients.invoices("2026-10")}
    assert sorted(after) == ["acme", "bright", "cedar", "delta"]
    # A draft keeps its number however often it is rebuilt.
    assert {ref: invoice["id"] for ref, invoice in after.items()} == {ref: ids[ref] for ref in after}
    assert [(product, quantity) for product, _, quantity, _, _ in lines_of(after["bright"])] == [
        ("desktop", 3),
        ("exchange", 1),
    ]
    bright = five_clients.invoice_row(_client_id("bright"), "2026-10")
    assert bright.lines[0].description.startswith("Hosted Desktop — 3 users,")
    audited = db.session.execute(
        select(AuditEvent.action, AuditEvent.client_id).where(AuditEvent.action.like("invoice.draft_%"))
    ).all()
    assert sorted(audited) == [
        ("invoice.draft_rebuilt", _client_id("bright")),
        ("invoice.draft_removed", _client_id("echo")),
    ]


def test_a_batch_whose_write_fails_is_closed_again_client_by_client(five_clients):
    with task_transaction():
        plan, summary = start_close(parse_period("2026-10"), billing_timezone(), utcnow())
    # Another close wrote cedar's draft after this one read the month: the batch's multi-row insert
    # breaks the one-invoice-per-client-and-month rule as a whole.
    with task_transaction():
        db.session.add(
            Invoice(
                client_id=_client_id("cedar"),
                period="2026-10",
                currency="USD",
                total_minor=1,
                starts_at=plan.start,
                ends_at=plan.stop,
                built_at=plan.built_at,
            )
        )

    with task_transaction():
        close_clients(TESTS, plan, plan.client_ids, summary)
        finish_close(TESTS, plan, summary)

    assert summary.outcomes == {"created": 4}
    assert list(summary.failures) == ["cedar"]
    # The console lists the reason in words, not the database's error text.
    assert summary.failures["cedar"] == WRITTEN_BY_ANOTHER_CLOSE
    per_client = dict(
        db.session.execute(
            select(Client.ref, func.count(Invoice.id))
            .join(Invoice, Invoice.client_id == Client.id)
            .where(Invoice.period == "2026-10")
            .group_by(Client.ref)
        ).all()
    )
    # Never two invoices for a client and month; the other four got theirs.
    assert per_client == dict.fromkeys(REFS, 1)
    totals = {invoice["client"]: invoice["total_minor"] for invoice in five_clients.invoices("2026-10")}
    assert totals["cedar"] == 1
    assert all(total > 1 for ref, total in totals.items() if ref != "cedar")
