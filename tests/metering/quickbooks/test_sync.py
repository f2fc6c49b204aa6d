"""The sync against the QuickBooks stand-in, driven by intuit-oauth and python-quickbooks themselves."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from metering import (
    Account,
    ConnectionState,
    QuickBooksRecord,
    RecordKind,
    SyncStatus,
    choose_sync_settings,
    current_connection,
    parse_period,
    retry_failed,
    sync_quickbooks_now,
)
from metering.credits.services import issue_credit_note
from portal.db import db, utcnow
from tests.metering.months import TESTS
from tests.standins.quickbooks import QuickBooksStandIn


def records() -> dict[tuple[RecordKind, int], QuickBooksRecord]:
    db.session.expire_all()
    return {(r.kind, r.local_id): r for r in db.session.scalars(select(QuickBooksRecord))}


def writes(stand_in: QuickBooksStandIn) -> int:
    return sum(n for call, n in stand_in.calls().items() if call.startswith("POST ") and call != "POST query")


def store_counts(stand_in: QuickBooksStandIn) -> dict[str, int]:
    return {entity: len(objects) for entity, objects in stand_in.store().items() if entity != "Account"}


def test_first_sync_sends_customers_items_invoices_tax_credit_memo_and_payment(connected, books, quickbooks):
    summary = sync_quickbooks_now()

    assert summary.counts == {"done": 5}, summary
    assert store_counts(quickbooks) == {"Customer": 3, "Item": 2, "Invoice": 3, "CreditMemo": 1, "Payment": 1}
    customers = {c["DisplayName"]: c for c in quickbooks.objects("Customer")}
    assert set(customers) == {"Acme Law LLP", "Bright Smile Dental", "Ledgerline Accountants"}
    assert customers["Ledgerline Accountants"]["PrimaryEmailAddr"] == {"Address": "books@ledgerline.example"}
    items = {i["Name"]: i for i in quickbooks.objects("Item")}
    assert all(
        item["Type"] == "Service" and item["IncomeAccountRef"] == {"value": "1"} for item in items.values()
    )

    invoices = {i["DocNumber"]: i for i in quickbooks.objects("Invoice")}
    for ref, invoice in books.invoices.items():
        sent = invoices[invoice.number]
        assert Decimal(str(sent["TotalAmt"])) == Decimal(invoice.total_minor) / 100, ref
        assert sent["DueDate"] == invoice.due_on.isoformat()
        assert sent["CustomerRef"]["value"] == customers[invoice.client.name]["Id"]
        assert [line["SalesItemLineDetail"]["Qty"] for line in sent["Line"]] == [
            line.quantity for line in invoice.lines
        ]
    acme = invoices[books.invoices["acme"].number]
    assert books.invoices["acme"].tax_minor > 0
    assert Decimal(str(acme["TxnTaxDetail"]["TotalTax"])) == Decimal(books.invoices["acme"].tax_minor) / 100
    assert {line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in acme["Line"]} == {"TAX"}

    (memo,) = quickbooks.objects("CreditMemo")
    assert memo["DocNumber"] == books.credit_note.number
    assert Decimal(str(memo["TotalAmt"])) == Decimal("5.00")
    assert memo["CustomerRef"]["value"] == customers["Bright Smile Dental"]["Id"]

    (payment,) = quickbooks.objects("Payment")
    ledger = invoices[books.invoices["ledger"].number]
    assert payment["Line"][0]["LinkedTxn"] == [{"TxnId": ledger["Id"], "TxnType": "Invoice"}]
    assert ledger["Balance"] == 0

    kept = records()
    invoice_record = kept[(RecordKind.INVOICE, books.invoices["acme"].id)]
    assert invoice_record.status is SyncStatus.DONE
    assert invoice_record.qbo_id == acme["Id"] and invoice_record.sync_token == acme["SyncToken"]
    assert all(r.status is SyncStatus.DONE for r in kept.values()), [
        (r.label, r.reason) for r in kept.values()
    ]


def test_a_second_run_changes_nothing(connected, books, quickbooks):
    sync_quickbooks_now()
    before, store_before = writes(quickbooks), quickbooks.store()

    summary = sync_quickbooks_now()

    assert summary.counts == {"done": 8}  # the three customers are looked at too
    assert writes(quickbooks) == before
    assert quickbooks.store() == store_before


def test_an_expired_access_token_is_renewed_mid_run(connected, books, quickbooks):
    # Seatmeter believes its token has most of an hour left; QuickBooks ends it after the 6th call.
    quickbooks.expire_tokens(after_calls=6)

    summary = sync_quickbooks_now()

    assert summary.counts == {"done": 5}
    assert quickbooks.calls().get("token:refresh_token") == 1
    assert store_counts(quickbooks) == {"Customer": 3, "Item": 2, "Invoice": 3, "CreditMemo": 1, "Payment": 1}
    assert current_connection().state is ConnectionState.CONNECTED


def test_an_access_token_about_to_expire_is_renewed_before_the_run(connected, books, quickbooks):
    connected.access_expires_at = utcnow() + timedelta(minutes=2)
    db.session.commit()

    summary = sync_quickbooks_now()

    assert summary.counts == {"done": 5}
    assert quickbooks.calls().get("token:refresh_token") == 1
    db.session.expire_all()
    assert current_connection().access_expires_at > utcnow() + timedelta(minutes=55)


def test_a_refused_refresh_asks_the_reseller_to_connect_again(connected, books, quickbooks):
    quickbooks.expire_tokens()
    quickbooks.revoke_refresh_tokens()

    summary = sync_quickbooks_now()

    assert summary.stopped and "Connect QuickBooks again" in summary.stopped
    db.session.expire_all()
    connection = current_connection()
    assert connection.state is ConnectionState.RECONNECT
    assert "Connect QuickBooks again" in (connection.problem or "")
    assert store_counts(quickbooks)["Invoice"] == 0
    assert all(r.status is SyncStatus.PENDING for r in records().values())


def test_throttling_is_retried(connected, books, quickbooks):
    quickbooks.throttle(2)

    summary = sync_quickbooks_now()

    assert quickbooks.calls()["throttled"] == 2
    assert summary.counts == {"done": 5}
    assert store_counts(quickbooks) == {"Customer": 3, "Item": 2, "Invoice": 3, "CreditMemo": 1, "Payment": 1}


def test_throttling_that_lasts_stops_the_run_until_later(connected, books, quickbooks):
    quickbooks.throttle(50)

    summary = sync_quickbooks_now()

    assert summary.busy
    first = records()[(RecordKind.INVOICE, min(i.id for i in books.invoices.values()))]
    assert first.status is SyncStatus.PENDING
    assert "busy" in (first.reason or "")

    quickbooks.throttle(0)
    assert sync_quickbooks_now().counts == {"done": 5}
    assert store_counts(quickbooks)["Invoice"] == 3


def test_an_invoice_changed_in_quickbooks_is_a_conflict_and_is_not_overwritten(connected, books, quickbooks):
    sync_quickbooks_now()
    invoice = books.invoices["bright"]
    qbo_id = records()[(RecordKind.INVOICE, invoice.id)].qbo_id
    edited = quickbooks.edit("Invoice", qbo_id, {"DueDate": "2026-12-31"})

    sync_quickbooks_now()
    sync_quickbooks_now()

    record = records()[(RecordKind.INVOICE, invoice.id)]
    assert record.status is SyncStatus.CONFLICT
    assert "changed in QuickBooks" in (record.reason or "")
    after = quickbooks.store()["Invoice"][qbo_id]
    assert after["DueDate"] == "2026-12-31"
    assert after["SyncToken"] == edited["SyncToken"]


def test_quickbooks_own_changes_to_an_invoice_are_no_conflict(connected, books, quickbooks):
    """A payment applied or the invoice e-mailed from QuickBooks moves its SyncToken, not its content."""
    sync_quickbooks_now()
    invoice = books.invoices["acme"]
    qbo_id = records()[(RecordKind.INVOICE, invoice.id)].qbo_id
    edited = quickbooks.edit("Invoice", qbo_id, {"EmailStatus": "EmailSent"})

    sync_quickbooks_now()

    record = records()[(RecordKind.INVOICE, invoice.id)]
    assert record.status is SyncStatus.DONE
    assert record.sync_token == edited["SyncToken"]


def test_a_changed_customer_edited_in_quickbooks_too_is_a_conflict(connected, books, quickbooks):
    sync_quickbooks_now()
    acme, bright = books.invoices["acme"].client, books.invoices["bright"].client
    acme_id = records()[(RecordKind.CUSTOMER, acme.id)].qbo_id
    bright_id = records()[(RecordKind.CUSTOMER, bright.id)].qbo_id
    quickbooks.edit("Customer", acme_id, {"Notes": "Call before invoicing"})
    acme.billing_email = "accounts@acme.example"
    bright.billing_email = "office@brightsmile.example"
    db.session.commit()

    sync_quickbooks_now()

    kept = records()
    assert kept[(RecordKind.CUSTOMER, acme.id)].status is SyncStatus.CONFLICT
    assert "PrimaryEmailAddr" not in quickbooks.store()["Customer"][acme_id]
    # Unchanged in QuickBooks: the new address is sent on the SyncToken Seatmeter holds.
    assert kept[(RecordKind.CUSTOMER, bright.id)].status is SyncStatus.DONE
    assert quickbooks.store()["Customer"][bright_id]["PrimaryEmailAddr"] == {
        "Address": "office@brightsmile.example"
    }


class WorkerKilled(Exception):
    pass


@pytest.mark.parametrize("kind", [RecordKind.INVOICE, RecordKind.PAYMENT])
def test_a_worker_killed_after_the_write_leaves_no_duplicate(connected, books, quickbooks, kind):
    written: list[QuickBooksRecord] = []

    def note_write(session: Session, _context, _instances) -> None:
        written.extend(
            obj
            for obj in list(session.new) + list(session.dirty)
            if isinstance(obj, QuickBooksRecord) and obj.kind is kind and obj.status is SyncStatus.DONE
        )

    def die_before_commit(session: Session) -> None:
        if written:
            raise WorkerKilled

    event.listen(Session, "before_flush", note_write)
    event.listen(Session, "before_commit", die_before_commit)
    try:
        with pytest.raises(WorkerKilled):
            sync_quickbooks_now()
    finally:
        event.remove(Session, "before_flush", note_write)
        event.remove(Session, "before_commit", die_before_commit)
    entity = kind.entity
    assert store_counts(quickbooks)[entity] == 1  # QuickBooks has it; Seatmeter does not know yet

    assert sync_quickbooks_now().counts["done"] >= 5

    assert store_counts(quickbooks) == {"Customer": 3, "Item": 2, "Invoice": 3, "CreditMemo": 1, "Payment": 1}
    assert all(r.status is SyncStatus.DONE for r in records().values())
    if kind is RecordKind.PAYMENT:
        # Payments have no number to look up: QuickBooks' requestid is what kept it single.
        assert quickbooks.calls().get("requestid repeated", 0) >= 1


def test_a_refusal_is_kept_with_its_reason_and_sync_again_sends_it(connected, books, quickbooks):
    # An account deleted in QuickBooks since it was picked.
    choose_sync_settings(TESTS, connected, Account("999", "Old sales"), parse_period("2026-10"))
    db.session.commit()

    summary = sync_quickbooks_now()

    assert summary.counts.get("failed") == 4  # three invoices and the credit note; the payment waits
    invoice_record = records()[(RecordKind.INVOICE, books.invoices["acme"].id)]
    assert invoice_record.status is SyncStatus.FAILED
    assert "Invalid Reference Id" in (invoice_record.reason or "")
    assert store_counts(quickbooks)["Invoice"] == 0

    choose_sync_settings(TESTS, connected, Account("1", "Services"), parse_period("2026-10"))
    retry_failed(TESTS)
    db.session.commit()
    sync_quickbooks_now()

    assert all(r.status is SyncStatus.DONE for r in records().values())
    assert store_counts(quickbooks) == {"Customer": 3, "Item": 2, "Invoice": 3, "CreditMemo": 1, "Payment": 1}


def test_a_credit_memo_carries_the_tax_of_the_lines_it_credits(connected, books, quickbooks):
    acme = books.invoices["acme"]
    note = issue_credit_note(TESTS, acme, "Desktop never used", utcnow(), line_ids=[acme.lines[0].id])
    db.session.commit()
    assert note.lines[0].tax_minor > 0

    sync_quickbooks_now()

    memo = next(m for m in quickbooks.objects("CreditMemo") if m["DocNumber"] == note.number)
    tax = sum(line.tax_minor for line in note.lines)
    assert Decimal(str(memo["TxnTaxDetail"]["TotalTax"])) == Decimal(tax) / 100
    assert Decimal(str(memo["TotalAmt"])) == Decimal(note.amount_minor) / 100
    assert [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in memo["Line"]] == ["TAX"]
    assert Decimal(str(memo["Line"][0]["Amount"])) == Decimal(note.amount_minor - tax) / 100
