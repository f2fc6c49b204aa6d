"""Exports of finalized invoices for the reseller's accounting system.

Two formats, so the numbers in the books match the bills to the cent:
- QuickBooks Online: the CSV its "Import invoices" tool reads (one row per invoice line).
- QuickBooks Desktop: an IIF file of INVOICE transactions (TRNS header, SPL lines, ENDTRNS).
Pure functions over plain data; the view gathers the invoices.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

QBO_COLUMNS = (
    "InvoiceNo",
    "Customer",
    "InvoiceDate",
    "DueDate",
    "Terms",
    "Memo",
    "Item(Product/Service)",
    "ItemDescription",
    "ItemQuantity",
    "ItemRate",
    "ItemAmount",
    "Service Date",
)


@dataclass(frozen=True)
class ExportLine:
    item: str  # the QuickBooks item (product/service) name
    description: str
    quantity: int
    rate_minor: int
    amount_minor: int
    service_date: date  # first day of the period the line bills


@dataclass(frozen=True)
class ExportInvoice:
    number: str
    customer: str
    invoice_date: date
    due_date: date
    memo: str
    lines: tuple[ExportLine, ...]
    terms: str = "Due on receipt"

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)


def _decimal(amount_minor: int) -> str:
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 100)
    return f"{sign}{major}.{minor:02d}"


def _us_date(value: date) -> str:
    return value.strftime("%m/%d/%Y")


def quickbooks_online_csv(invoices: Iterable[ExportInvoice]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(QBO_COLUMNS)
    for invoice in invoices:
        for line in invoice.lines:
            writer.writerow(
                (
                    invoice.number,
                    invoice.customer,
                    _us_date(invoice.invoice_date),
                    _us_date(invoice.due_date),
                    invoice.terms,
                    invoice.memo,
                    line.item,
                    line.description,
                    line.quantity,
                    _decimal(line.rate_minor),
                    _decimal(line.amount_minor),
                    _us_date(line.service_date),
                )
            )
    return out.getvalue()


def _iif_field(value: str) -> str:
    # IIF is tab-separated with no quoting: a tab or newline inside a value would split the row.
    return " ".join(value.replace("\t", " ").splitlines())


def quickbooks_desktop_iif(
    invoices: Iterable[ExportInvoice],
    receivable_account: str = "Accounts Receivable",
    income_account: str = "Hosted Services Income",
) -> str:
    """INVOICE transactions: the receivable is a positive TRNS, each line a negative SPL (a credit)."""
    rows = [
        ["!TRNS", "TRNSTYPE", "DATE", "ACCNT", "NAME", "AMOUNT", "DOCNUM", "MEMO", "DUEDATE", "TERMS"],
        ["!SPL", "TRNSTYPE", "DATE", "ACCNT", "NAME", "AMOUNT", "DOCNUM", "MEMO", "QNTY", "PRICE", "INVITEM"],
        ["!ENDTRNS"],
    ]
    for invoice in invoices:
        day = _us_date(invoice.invoice_date)
        customer = _iif_field(invoice.customer)
        rows.append(
            [
                "TRNS",
                "INVOICE",
                day,
                receivable_account,
                customer,
                _decimal(invoice.total_minor),
                invoice.number,
                _iif_field(invoice.memo),
                _us_date(invoice.due_date),
                invoice.terms,
            ]
        )
        for line in invoice.lines:
            rows.append(
                [
                    "SPL",
                    "INVOICE",
                    day,
                    income_account,
                    customer,
                    _decimal(-line.amount_minor),
                    invoice.number,
                    _iif_field(line.description),
                    str(-line.quantity),
                    _decimal(line.rate_minor),
                    _iif_field(line.item),
                ]
            )
        rows.append(["ENDTRNS"])
    return "".join("\t".join(row) + "\r\n" for row in rows)
