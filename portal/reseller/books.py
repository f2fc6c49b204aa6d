"""The month's issued documents as the QuickBooks exports want them (see :mod:`portal.reseller.exports`).

Only invoices that left the draft state are exported: a draft may still change, the books must not.
An invoice whose lines net below zero is not exported as an invoice: its credit note is, as a credit
memo. Credit notes belong to the month they were issued in, payments to the month the money arrived
in (both in the billing time zone).
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from metering import (
    BillingPeriod,
    CreditNote,
    Invoice,
    Payment,
    PaymentMethod,
    credit_notes_issued_in,
    list_invoices,
    payments_received_between,
)
from portal.reseller.exports import ExportCreditNote, ExportInvoice, ExportLine, ExportPayment

# The QuickBooks item a credit of an amount (rather than of invoice lines) posts to.
CREDIT_ITEM = "Credit"
METHOD_NAMES = {
    PaymentMethod.STRIPE: "Stripe",
    PaymentMethod.TRANSFER: "Bank transfer",
    PaymentMethod.CHEQUE: "Cheque",
    PaymentMethod.CASH: "Cash",
    PaymentMethod.OTHER: "Other",
}


def _first_day(period: str) -> date:
    month = BillingPeriod.parse(period)
    return date(month.year, month.month, 1)


def export_invoice(invoice: Invoice, tz: ZoneInfo) -> ExportInvoice:
    """One issued invoice: dated the day it was finalized (in the billing zone), due on receipt."""
    finalized = invoice.finalized_at or invoice.created_at
    issued = finalized.astimezone(tz).date()
    return ExportInvoice(
        number=invoice.number,
        customer=invoice.client.name,
        invoice_date=issued,
        due_date=issued,
        memo=f"Seatmeter {BillingPeriod.parse(invoice.period).label}",
        lines=tuple(
            ExportLine(
                # The QuickBooks item is the product: adjustments post to the same income item.
                item=line.product.name,
                # Adjustment lines already say which month they correct and why.
                description=line.description,
                quantity=line.quantity,
                rate_minor=line.unit_amount_minor,
                amount_minor=line.amount_minor,
                service_date=_first_day(line.period),
                tax_minor=line.tax_minor,
                tax_name=line.tax_name or "",
                tax_rate_ppm=line.tax_rate_ppm,
                tax_inclusive=line.tax_inclusive,
            )
            for line in invoice.lines
        ),
    )


def issued_invoices(period: BillingPeriod) -> list[Invoice]:
    """Finalized, paid and overdue invoices of the month, in invoice number order. Three queries."""
    invoices = list_invoices(period=period)
    # A month that nets below zero went out as a credit note (see export_credit_notes).
    return sorted(
        (invoice for invoice in invoices if invoice.total_minor >= 0), key=lambda invoice: invoice.id
    )


def export_invoices(period: BillingPeriod, tz: ZoneInfo) -> list[ExportInvoice]:
    return [export_invoice(invoice, tz) for invoice in issued_invoices(period)]


def export_credit_note(note: CreditNote, tz: ZoneInfo) -> ExportCreditNote:
    """One credit note: a line per credited invoice line (its product's item), or one "Credit" line.

    Each line's tax goes to the tax columns (the sales tax account), its income without the tax,
    as the invoice it credits was exported.
    """
    lines = []
    for line in note.lines:
        source = line.invoice_line
        # A credit note line's amount includes its tax; an export line's only when the rate did.
        amount = line.amount_minor if line.tax_inclusive else line.amount_minor - line.tax_minor
        lines.append(
            ExportLine(
                item=source.product.name if source is not None else CREDIT_ITEM,
                description=line.description,
                quantity=source.quantity if source is not None else 1,
                rate_minor=source.unit_amount_minor if source is not None else amount,
                amount_minor=amount,
                service_date=_first_day(source.period if source is not None else note.invoice.period),
                tax_minor=line.tax_minor,
                tax_name=line.tax_name or ("Tax" if line.tax_minor else ""),
                tax_rate_ppm=line.tax_rate_ppm,
                tax_inclusive=line.tax_inclusive,
            )
        )
    return ExportCreditNote(
        number=note.number,
        customer=note.client.name,
        credit_date=note.issued_at.astimezone(tz).date(),
        memo=f"Credit note for invoice {note.invoice.number}: {note.reason}",
        lines=tuple(lines),
    )


def export_credit_notes(period: BillingPeriod, tz: ZoneInfo) -> list[ExportCreditNote]:
    start, stop = period.bounds(tz)
    return [export_credit_note(note, tz) for note in credit_notes_issued_in(start, stop)]


def export_payment(payment: Payment) -> ExportPayment:
    return ExportPayment(
        customer=payment.client.name,
        received_on=payment.received_on,
        amount_minor=payment.amount_minor,
        method=METHOD_NAMES[payment.method],
        reference=payment.reference,
        invoice_number=payment.invoice.number,
    )


def export_payments(period: BillingPeriod) -> list[ExportPayment]:
    first = _first_day(str(period))
    last = _first_day(str(period.next())) - timedelta(days=1)
    return [export_payment(payment) for payment in payments_received_between(first, last)]
