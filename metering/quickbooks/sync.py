"""Sending invoices, credit notes and payments to QuickBooks Online, each once.

A run (the ``metering.sync_quickbooks`` task) lists the documents to send (:func:`prepare_run`) and
then sends them one at a time (:func:`sync_document`), each in its own transaction, committed by the
task. A document brings along what it refers to: its client as a Customer (matched by DisplayName or
e-mail, else created) and its products as Service Items (matched by Name, else created, posting to
the income account the reseller picked).

Every write carries a ``requestid`` made of the document, its id and a digest of what is sent. If
the worker dies after QuickBooks wrote an object but before the local commit, the next run sends the
same request with the same requestid and QuickBooks answers with the object it already made, so
nothing is written twice. Invoices and credit memos are also looked up by DocNumber first (a reseller
who imported the CSV export already has them).

A change made in QuickBooks is never overwritten: an invoice whose SyncToken moved since Seatmeter
wrote it, or a customer or item QuickBooks refuses to update with a stale SyncToken (fault 5010),
turns ``conflict`` with the reason, and stays so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from quickbooks.exceptions import QuickbooksException
from sqlalchemy import select

from metering.billing.models import Invoice, InvoiceStatus
from metering.credits.models import CreditNote, Payment
from metering.quickbooks.api import MAX_TRIES, Api, digest_of, quote, request_id
from metering.quickbooks.client import (
    QuickBooksBusy,
)
from metering.quickbooks.connection import NeedsReconnect
from metering.quickbooks.models import (
    ConnectionState,
    QuickBooksConnection,
    QuickBooksRecord,
    RecordKind,
    SyncStatus,
)
from metering.quickbooks.references import (
    Refused,
    ensure_customer,
    ensure_item,
    mark_conflict,
    mark_done,
    mark_failed,
    record_for,
    refusal_reason,
)
from metering.settings import billing_timezone
from portal.accounts.models import Client
from portal.db import db

MAX_DOC_NUMBER = 21  # QuickBooks' limit on DocNumber
MAX_PAYMENT_REF = 21
SKIPPED_STATUSES = (InvoiceStatus.DRAFT, InvoiceStatus.VOID)


def minor_to_decimal(amount_minor: int) -> Decimal:
    return Decimal(amount_minor).scaleb(-2)


# --- the documents


def _invoice_body(api: Api, connection: QuickBooksConnection, invoice: Invoice) -> dict[str, Any]:
    if len(invoice.number) > MAX_DOC_NUMBER:
        raise Refused(
            f"Its number {invoice.number} is longer than the {MAX_DOC_NUMBER} characters QuickBooks allows; "
            "shorten the invoice number prefix."
        )
    inclusive = {line.tax_inclusive for line in invoice.lines if line.tax_minor}
    if len(inclusive) > 1:
        raise Refused(
            "It mixes tax-inclusive and tax-exclusive lines; a QuickBooks invoice takes one or the other."
        )
    customer = ensure_customer(api, invoice.client)
    tz = billing_timezone()
    lines = []
    for line in invoice.lines:
        lines.append(
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": minor_to_decimal(line.amount_minor),
                "Description": line.description[:4000],
                "SalesItemLineDetail": {
                    "ItemRef": {"value": ensure_item(api, connection, line.product)},
                    "Qty": line.quantity,
                    "UnitPrice": minor_to_decimal(line.unit_amount_minor),
                    "TaxCodeRef": {"value": "TAX" if line.tax_minor else "NON"},
                },
            }
        )
    body: dict[str, Any] = {
        "DocNumber": invoice.number,
        "CustomerRef": {"value": customer},
        "Line": lines,
        "TxnTaxDetail": {"TotalTax": minor_to_decimal(invoice.tax_minor)},
        "GlobalTaxCalculation": "TaxInclusive" if inclusive == {True} else "TaxExcluded",
        "PrivateNote": f"Seatmeter invoice {invoice.number} for {invoice.period}",
    }
    if invoice.finalized_at is not None:
        body["TxnDate"] = invoice.finalized_at.astimezone(tz).date().isoformat()
    if invoice.due_on is not None:
        body["DueDate"] = invoice.due_on.isoformat()
    return body


def _invoice_facts(obj: dict[str, Any]) -> str:
    """A digest of what Seatmeter decides on an invoice, as QuickBooks holds it (not balance or status)."""

    def amount(value: Any) -> str:
        return str(Decimal(str(value if value is not None else 0)).quantize(Decimal("0.01")))

    lines = [
        (
            amount(line.get("Amount")),
            line.get("Description"),
            line["SalesItemLineDetail"].get("ItemRef", {}).get("value"),
            str(line["SalesItemLineDetail"].get("Qty")),
        )
        for line in obj.get("Line", [])
        if line.get("DetailType") == "SalesItemLineDetail"
    ]
    facts = {
        "DocNumber": obj.get("DocNumber"),
        "CustomerRef": (obj.get("CustomerRef") or {}).get("value"),
        "TxnDate": obj.get("TxnDate"),
        "DueDate": obj.get("DueDate"),
        "TotalAmt": amount(obj.get("TotalAmt")),
        "TotalTax": amount((obj.get("TxnTaxDetail") or {}).get("TotalTax")),
        "Lines": lines,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _check_total(record: QuickBooksRecord, obj: dict[str, Any], expected_minor: int) -> None:
    total = Decimal(str(obj.get("TotalAmt", "0")))
    if total != minor_to_decimal(expected_minor):
        record.reason = (
            f"QuickBooks totals it {total}, Seatmeter {minor_to_decimal(expected_minor)}: "
            "check the tax codes "
            "of the company (QuickBooks may compute tax itself)."
        )


def sync_invoice(api: Api, connection: QuickBooksConnection, invoice: Invoice) -> None:
    record = record_for(RecordKind.INVOICE, invoice.id, f"Invoice {invoice.number}", invoice.client_id)
    if record.status is SyncStatus.CONFLICT:
        return
    if record.status is SyncStatus.DONE and record.qbo_id:
        # Finalized invoices never change here. QuickBooks moves the SyncToken for its own reasons too
        # (a payment applied, the invoice e-mailed), so what counts is whether what Seatmeter sent moved.
        remote = api.get("Invoice", record.qbo_id)
        if str(remote.get("SyncToken")) != record.sync_token:
            if _invoice_facts(remote) == record.content_digest:
                record.sync_token = str(remote.get("SyncToken"))
            else:
                mark_conflict(record, f"Invoice {invoice.number} (its customer, dates, lines or totals)")
        return
    record.attempts += 1
    body = _invoice_body(api, connection, invoice)
    digest = digest_of(body)
    record.request_id = request_id(record.kind, invoice.id, digest)
    matches = api.query("Invoice", f"DocNumber = '{quote(invoice.number)}'")
    if matches:
        mark_done(
            record,
            matches[0],
            _invoice_facts(matches[0]),
            "Matched the invoice already in QuickBooks (imported from a file?).",
        )
        return
    try:
        obj = api.write("Invoice", body, record.request_id)
    except QuickbooksException as error:
        raise Refused(refusal_reason(error)) from None
    # The invoice is compared with this later, to tell someone's edit from QuickBooks' own changes.
    mark_done(record, obj, _invoice_facts(obj))
    _check_total(record, obj, invoice.total_minor)


def sync_credit_note(api: Api, connection: QuickBooksConnection, note: CreditNote) -> None:
    record = record_for(RecordKind.CREDIT_MEMO, note.id, f"Credit note {note.number}", note.client_id)
    if record.status in (SyncStatus.DONE, SyncStatus.CONFLICT):
        return
    record.attempts += 1
    # A credit note line's amount includes its tax; QuickBooks takes a credit memo's lines with or without
    # it (GlobalTaxCalculation), one way for the whole memo.
    inclusive = {line.tax_inclusive for line in note.lines if line.tax_minor}
    if len(inclusive) > 1:
        raise Refused(
            "It mixes tax-inclusive and tax-exclusive lines; a QuickBooks credit memo takes one or the other."
        )
    tax_included = inclusive == {True}
    customer = ensure_customer(api, note.client)
    tz = billing_timezone()
    lines = []
    for line in note.lines:
        product = line.invoice_line.product if line.invoice_line is not None else None
        amount = line.amount_minor if tax_included else line.amount_minor - line.tax_minor
        lines.append(
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": minor_to_decimal(amount),
                "Description": line.description[:4000],
                "SalesItemLineDetail": {
                    "ItemRef": {"value": ensure_item(api, connection, product)},
                    "TaxCodeRef": {"value": "TAX" if line.tax_minor else "NON"},
                },
            }
        )
    body: dict[str, Any] = {
        "DocNumber": note.number,
        "CustomerRef": {"value": customer},
        "TxnDate": note.issued_at.astimezone(tz).date().isoformat(),
        "Line": lines,
        "TxnTaxDetail": {"TotalTax": minor_to_decimal(sum(line.tax_minor for line in note.lines))},
        "GlobalTaxCalculation": "TaxInclusive" if tax_included else "TaxExcluded",
        "PrivateNote": f"Seatmeter credit note {note.number} on invoice {note.invoice.number}: {note.reason}"[
            :4000
        ],
    }
    digest = digest_of(body)
    record.request_id = request_id(record.kind, note.id, digest)
    matches = api.query("CreditMemo", f"DocNumber = '{quote(note.number)}'")
    if matches:
        mark_done(
            record,
            matches[0],
            digest,
            "Matched the credit memo already in QuickBooks (imported from a file?).",
        )
        return
    try:
        obj = api.write("CreditMemo", body, record.request_id)
    except QuickbooksException as error:
        raise Refused(refusal_reason(error)) from None
    mark_done(record, obj, digest)
    _check_total(record, obj, note.amount_minor)


def _invoice_record(invoice_id: int) -> QuickBooksRecord | None:
    return db.session.scalars(
        select(QuickBooksRecord).where(
            QuickBooksRecord.kind == RecordKind.INVOICE, QuickBooksRecord.local_id == invoice_id
        )
    ).one_or_none()


def sync_payment(api: Api, connection: QuickBooksConnection, payment: Payment) -> None:
    record = record_for(
        RecordKind.PAYMENT,
        payment.id,
        f"Payment {payment.id} of invoice {payment.invoice.number}",
        payment.client_id,
    )
    if record.status in (SyncStatus.DONE, SyncStatus.CONFLICT):
        return
    invoice_record = _invoice_record(payment.invoice_id)
    if invoice_record is None or invoice_record.qbo_id is None:
        record.reason = f"Waits for invoice {payment.invoice.number} to be in QuickBooks."
        return
    record.attempts += 1
    customer = ensure_customer(api, payment.client)
    amount = minor_to_decimal(payment.amount_minor)
    body: dict[str, Any] = {
        "CustomerRef": {"value": customer},
        "TotalAmt": amount,
        "TxnDate": payment.received_on.isoformat(),
        "PaymentRefNum": (payment.reference or "")[:MAX_PAYMENT_REF],
        "PrivateNote": f"Seatmeter payment {payment.id} ({payment.method.value}) of {payment.invoice.number}",
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice_record.qbo_id, "TxnType": "Invoice"}]}],
    }
    digest = digest_of(body)
    record.request_id = request_id(record.kind, payment.id, digest)
    try:
        obj = api.write("Payment", body, record.request_id)
    except QuickbooksException as error:
        raise Refused(refusal_reason(error)) from None
    mark_done(record, obj, digest)


# --- a run


@dataclass(frozen=True)
class Document:
    kind: RecordKind
    local_id: int


@dataclass
class DocumentOutcome:
    status: SyncStatus | None
    busy: bool = False  # QuickBooks kept throttling or failing: stop the run and try later
    stop: str | None = None  # why the run stops (reconnect)


def prepare_run(connection: QuickBooksConnection) -> list[Document]:
    """Every document from the connection's first month on, in the order they must go. Flushes.

    Each gets its record (pending) now, so the sync page shows what is waiting.
    """
    invoices = list(
        db.session.scalars(
            select(Invoice)
            .where(Invoice.period >= connection.first_period, Invoice.status.not_in(SKIPPED_STATUSES))
            .order_by(Invoice.id)
        )
    )
    invoice_ids = [invoice.id for invoice in invoices]
    notes = (
        list(
            db.session.scalars(
                select(CreditNote).where(CreditNote.invoice_id.in_(invoice_ids)).order_by(CreditNote.id)
            )
        )
        if invoice_ids
        else []
    )
    payments = (
        list(
            db.session.scalars(
                select(Payment).where(Payment.invoice_id.in_(invoice_ids)).order_by(Payment.id)
            )
        )
        if invoice_ids
        else []
    )
    documents: list[Document] = []
    # Customers sent before go first, so a client's changed name or e-mail reaches QuickBooks too.
    for client_id in db.session.scalars(
        select(QuickBooksRecord.local_id)
        .where(QuickBooksRecord.kind == RecordKind.CUSTOMER, QuickBooksRecord.status == SyncStatus.DONE)
        .order_by(QuickBooksRecord.local_id)
    ):
        documents.append(Document(RecordKind.CUSTOMER, client_id))
    for invoice in invoices:
        record_for(RecordKind.INVOICE, invoice.id, f"Invoice {invoice.number}", invoice.client_id)
        documents.append(Document(RecordKind.INVOICE, invoice.id))
    for note in notes:
        record_for(RecordKind.CREDIT_MEMO, note.id, f"Credit note {note.number}", note.client_id)
        documents.append(Document(RecordKind.CREDIT_MEMO, note.id))
    for payment in payments:
        record_for(
            RecordKind.PAYMENT,
            payment.id,
            f"Payment {payment.id} of invoice {payment.invoice.number}",
            payment.client_id,
        )
        documents.append(Document(RecordKind.PAYMENT, payment.id))
    return documents


def sync_document(api: Api, document: Document, now: datetime) -> DocumentOutcome:
    """Send one document (and what it refers to). Flushes; the caller commits, whatever the outcome.

    ``api`` serves a whole run: its client (and token) is made once, not per document.
    """
    connection = api.connection
    # One run at a time per company: a second one waits here rather than racing for the same records.
    db.session.refresh(connection, with_for_update=True)
    if connection.state is ConnectionState.RECONNECT:
        return DocumentOutcome(None, stop=connection.problem)
    api.now = now
    record_kind, local_id = document.kind, document.local_id
    try:
        if record_kind is RecordKind.CUSTOMER:
            client = db.session.get(Client, local_id)
            if client is None:
                return DocumentOutcome(None)
            ensure_customer(api, client)
        elif record_kind is RecordKind.INVOICE:
            invoice = db.session.get(Invoice, local_id)
            if invoice is None:
                return DocumentOutcome(None)
            sync_invoice(api, connection, invoice)
        elif record_kind is RecordKind.CREDIT_MEMO:
            note = db.session.get(CreditNote, local_id)
            if note is None:
                return DocumentOutcome(None)
            sync_credit_note(api, connection, note)
        else:
            payment = db.session.get(Payment, local_id)
            if payment is None:
                return DocumentOutcome(None)
            sync_payment(api, connection, payment)
    except Refused as refusal:
        record = record_for(record_kind, local_id, "", None)
        mark_failed(record, str(refusal))
    except QuickbooksException as error:
        # A refusal of a look-up or of something the document refers to.
        record = record_for(record_kind, local_id, "", None)
        mark_failed(record, refusal_reason(error))
    except QuickBooksBusy as busy:
        record = record_for(record_kind, local_id, "", None)
        record.reason = (
            f"QuickBooks was busy or failing (HTTP {busy.status or 'no answer'}) after {MAX_TRIES} tries; "
            "it is tried again later by itself."
        )
        db.session.flush()
        return DocumentOutcome(record.status, busy=True)
    except NeedsReconnect as reconnect:
        return DocumentOutcome(None, stop=str(reconnect))
    record = record_for(record_kind, local_id, "", None)
    if (
        record.status in (SyncStatus.DONE, SyncStatus.CONFLICT)
        and record.reason
        and record.reason.startswith("QuickBooks was busy")
    ):
        record.reason = None
    connection.last_run_at = now
    db.session.flush()
    return DocumentOutcome(record.status)
