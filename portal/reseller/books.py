"""The month's issued invoices as the QuickBooks exports want them (see :mod:`portal.reseller.exports`).

Only invoices that left the draft state are exported: a draft may still change, the books must not.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from metering import BillingPeriod, Invoice, list_invoices
from portal.reseller.exports import ExportInvoice, ExportLine


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
            )
            for line in invoice.lines
        ),
    )


def issued_invoices(period: BillingPeriod) -> list[Invoice]:
    """Finalized, paid and overdue invoices of the month, in invoice number order. Three queries."""
    invoices = list_invoices(period=period)
    return sorted(invoices, key=lambda invoice: invoice.id)


def export_invoices(period: BillingPeriod, tz: ZoneInfo) -> list[ExportInvoice]:
    return [export_invoice(invoice, tz) for invoice in issued_invoices(period)]
