"""Exports of issued invoices, credit notes and payments for the reseller's accounting system.

Two formats, so the numbers in the books match the bills to the cent:
- QuickBooks Online: the CSV its "Import invoices" tool reads (one row per invoice line, with its
  tax code and tax amount), at most :data:`QBO_MAX_INVOICES` invoices a file (its import limit;
  a zip of files when there are more), plus a credit memos CSV in the same shape (the tax credited in
  the tax columns, the income without it) and a payments CSV.
- QuickBooks Desktop: an IIF file of INVOICE, CREDIT MEMO and PAYMENT transactions (TRNS header,
  SPL lines, ENDTRNS), in Windows-1252 (what QuickBooks Desktop reads) with anything outside it
  transliterated, ``DOCNUM`` at most 11 characters and item names at most 31; taxes are SPL lines
  into the sales tax account.

Each invoice totals what the client owes, tax included; its income lines exclude tax (an inclusive
tax is taken out of them), so the books' revenue is the reseller's and the tax is owed on.
Pure functions over plain data; the view gathers the documents.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from text_unidecode import unidecode

QBO_MAX_INVOICES = 100
IIF_ENCODING = "cp1252"
MAX_DOCNUM = 11
MAX_ITEM_NAME = 31

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
    "ItemTaxCode",
    "ItemTaxAmount",
    "Service Date",
)


@dataclass(frozen=True)
class ExportLine:
    item: str  # the QuickBooks item (product/service) name
    description: str
    quantity: int
    rate_minor: int
    amount_minor: int  # as on the invoice: with the tax in it when the rate is inclusive
    service_date: date  # first day of the period the line bills
    tax_minor: int = 0
    tax_name: str = ""  # the tax rate's name, QuickBooks' tax code ("" when untaxed)
    tax_rate_ppm: int | None = None
    tax_inclusive: bool = False

    @property
    def net_minor(self) -> int:
        """The line without its tax: what the books count as income (an inclusive tax taken out)."""
        return self.amount_minor - self.tax_minor if self.tax_inclusive else self.amount_minor

    @property
    def net_rate(self) -> str:
        """The unit price without tax, as a decimal.

        Four places when an inclusive tax taken out of the amount does not divide evenly by the
        quantity: QuickBooks books the amount as given, the rate is for reading.
        """
        if not self.tax_inclusive or not self.tax_minor or self.quantity == 0:
            return _decimal(self.rate_minor)
        if self.net_minor % self.quantity == 0:
            return _decimal(self.net_minor // self.quantity)
        rate = Decimal(self.net_minor) / Decimal(self.quantity) / 100
        return f"{rate.quantize(Decimal('0.0001')):f}"


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
    def subtotal_minor(self) -> int:
        """The lines without tax: the income."""
        return sum(line.net_minor for line in self.lines)

    @property
    def tax_minor(self) -> int:
        return sum(line.tax_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        """What the client owes: income plus every tax (exclusive or taken out of inclusive lines)."""
        return self.subtotal_minor + self.tax_minor


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
                    line.net_rate,
                    _decimal(line.net_minor),
                    line.tax_name,
                    _decimal(line.tax_minor),
                    _us_date(line.service_date),
                )
            )
    return out.getvalue()


def _percent(rate_ppm: int | None) -> str:
    if rate_ppm is None:
        return ""
    return f"{(Decimal(rate_ppm) / 10_000).normalize():f}%"


def quickbooks_desktop_iif(
    invoices: Iterable[ExportInvoice],
    credit_notes: Iterable[ExportCreditNote] = (),
    payments: Iterable[ExportPayment] = (),
    receivable_account: str = "Accounts Receivable",
    income_account: str = "Hosted Services Income",
    deposit_account: str = "Undeposited Funds",
    sales_tax_account: str = "Sales Tax Payable",
) -> str:
    """INVOICE, CREDIT MEMO and PAYMENT transactions; every value within QuickBooks Desktop's limits.

    An invoice is a positive receivable (TRNS) and negative income lines (SPL); a credit memo the
    opposite; a payment moves money from the receivable into ``deposit_account``. An invoice's taxes
    are one SPL line per tax rate into ``sales_tax_account`` (its item the rate's name), and its income
    lines exclude tax (an inclusive tax is taken out of them), so TRNS is what the client owes
    and the income is what the reseller earned. The text is Windows-1252-safe:
    :func:`quickbooks_desktop_iif_bytes` encodes it.
    """
    rows = [
        [
            "!TRNS",
            "TRNSTYPE",
            "DATE",
            "ACCNT",
            "NAME",
            "AMOUNT",
            "DOCNUM",
            "MEMO",
            "DUEDATE",
            "TERMS",
            "PAYMETH",
        ],
        ["!SPL", "TRNSTYPE", "DATE", "ACCNT", "NAME", "AMOUNT", "DOCNUM", "MEMO", "QNTY", "PRICE", "INVITEM"],
        ["!ENDTRNS"],
    ]

    def split_rows(
        kind: str, day: str, name: str, docnum: str, lines: Iterable[ExportLine], sign: int
    ) -> None:
        for line in lines:
            rows.append(
                [
                    "SPL",
                    kind,
                    day,
                    income_account,
                    name,
                    _decimal(sign * line.net_minor),
                    docnum,
                    iif_text(line.description),
                    str(sign * line.quantity),
                    line.net_rate,
                    iif_item_name(line.item),
                ]
            )
        taxes: dict[tuple[str, int | None], int] = {}
        for line in lines:
            if line.tax_minor:
                key = (line.tax_name or "Sales tax", line.tax_rate_ppm)
                taxes[key] = taxes.get(key, 0) + line.tax_minor
        for (tax_name, rate_ppm), tax_minor in taxes.items():
            rows.append(
                [
                    "SPL",
                    kind,
                    day,
                    sales_tax_account,
                    name,
                    _decimal(sign * tax_minor),
                    docnum,
                    iif_text(f"{tax_name} {_percent(rate_ppm)}".strip()),
                    "",
                    _percent(rate_ppm),
                    iif_item_name(tax_name),
                ]
            )

    for invoice in invoices:
        day = _us_date(invoice.invoice_date)
        customer = iif_text(invoice.customer)
        docnum = iif_docnum(invoice.number)
        memo = iif_text(invoice.memo if docnum == invoice.number else f"{invoice.number} {invoice.memo}")
        rows.append(
            [
                "TRNS",
                "INVOICE",
                day,
                receivable_account,
                customer,
                _decimal(invoice.total_minor),
                docnum,
                memo,
                _us_date(invoice.due_date),
                iif_text(invoice.terms),
                "",
            ]
        )
        split_rows("INVOICE", day, customer, docnum, invoice.lines, -1)
        rows.append(["ENDTRNS"])
    for note in credit_notes:
        day = _us_date(note.credit_date)
        customer = iif_text(note.customer)
        docnum = iif_docnum(note.number)
        rows.append(
            [
                "TRNS",
                "CREDIT MEMO",
                day,
                receivable_account,
                customer,
                _decimal(-note.total_minor),
                docnum,
                iif_text(note.memo),
                "",
                "",
                "",
            ]
        )
        split_rows("CREDIT MEMO", day, customer, docnum, note.lines, 1)
        rows.append(["ENDTRNS"])
    for payment in payments:
        day = _us_date(payment.received_on)
        customer = iif_text(payment.customer)
        docnum = iif_docnum(payment.reference) if payment.reference else ""
        memo = iif_text(f"Payment for invoice {payment.invoice_number} {payment.reference}".strip())
        rows.append(
            [
                "TRNS",
                "PAYMENT",
                day,
                deposit_account,
                customer,
                _decimal(payment.amount_minor),
                docnum,
                memo,
                "",
                "",
                iif_text(payment.method),
            ]
        )
        rows.append(
            [
                "SPL",
                "PAYMENT",
                day,
                receivable_account,
                customer,
                _decimal(-payment.amount_minor),
                docnum,
                memo,
                "",
                "",
                "",
            ]
        )
        rows.append(["ENDTRNS"])
    return "".join("\t".join(row) + "\r\n" for row in rows)


# --- what QuickBooks Desktop can read -------------------------------------------------------------------

# Typographic punctuation becomes its plain form, as a person would type it into QuickBooks.
_PLAIN_PUNCTUATION = str.maketrans(
    {
        "\u2014": "-",  # em dash
        "\u2013": "-",  # en dash
        "\u2212": "-",  # minus sign
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u00a0": " ",  # no-break space
        "\u2192": "->",
    }
)


def _cp1252_char(char: str) -> str:
    try:
        char.encode(IIF_ENCODING)
    except UnicodeEncodeError:
        # Letters outside Windows-1252 ('ł', Cyrillic, Greek) become their Latin transliteration.
        return unidecode(char)
    return char


def iif_text(value: str) -> str:
    """A value as it can stand in an IIF field: Windows-1252 only, on one line, with no tab."""
    plain = "".join(_cp1252_char(char) for char in value.translate(_PLAIN_PUNCTUATION))
    # IIF is tab-separated with no quoting: a tab or newline inside a value would split the row.
    return " ".join(plain.replace("\t", " ").splitlines())


def iif_docnum(number: str) -> str:
    """A document number within QuickBooks Desktop's 11 characters, the same every time.

    A number that fits is kept; a longer one loses its separators, then keeps its last 11
    characters, where numbers of one series differ (``2026-10-00042`` becomes ``20261000042``).
    The whole number stays in the memo.
    """
    text = iif_text(number).strip()
    if len(text) <= MAX_DOCNUM:
        return text
    compact = "".join(char for char in text if char.isalnum())
    return compact[-MAX_DOCNUM:]


def iif_item_name(name: str) -> str:
    """An item (product/service) name within QuickBooks Desktop's 31 characters, the same every time.

    A name that fits is kept; a longer one is cut and given a short code made from the whole name,
    so two long names that begin alike stay two items. A colon would make a sub-item: it is a dash.
    """
    text = iif_text(name).replace(":", "-").strip()
    if len(text) <= MAX_ITEM_NAME:
        return text
    code = hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:6].upper()
    return f"{text[: MAX_ITEM_NAME - len(code) - 1].rstrip()}~{code}"


# --- credit notes and payments --------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportCreditNote:
    number: str
    customer: str
    credit_date: date
    memo: str
    # Amounts positive: what the client gets back.
    lines: tuple[ExportLine, ...]

    @property
    def total_minor(self) -> int:
        return sum(line.net_minor + line.tax_minor for line in self.lines)


@dataclass(frozen=True)
class ExportPayment:
    customer: str
    received_on: date
    amount_minor: int
    method: str  # "Stripe", "Bank transfer", "Cheque", ...
    reference: str
    invoice_number: str


QBO_CREDIT_MEMO_COLUMNS = (
    "CreditMemoNo",
    "Customer",
    "CreditMemoDate",
    "Memo",
    "Item(Product/Service)",
    "ItemDescription",
    "ItemQuantity",
    "ItemRate",
    "ItemAmount",
    "ItemTaxCode",
    "ItemTaxAmount",
    "Service Date",
)

QBO_PAYMENT_COLUMNS = (
    "PaymentDate",
    "Customer",
    "PaymentMethod",
    "ReferenceNo",
    "InvoiceNo",
    "Amount",
    "Memo",
)


def quickbooks_online_credit_memos_csv(credit_notes: Iterable[ExportCreditNote]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(QBO_CREDIT_MEMO_COLUMNS)
    for note in credit_notes:
        for line in note.lines:
            writer.writerow(
                (
                    note.number,
                    note.customer,
                    _us_date(note.credit_date),
                    note.memo,
                    line.item,
                    line.description,
                    line.quantity,
                    line.net_rate,
                    _decimal(line.net_minor),
                    line.tax_name,
                    _decimal(line.tax_minor),
                    _us_date(line.service_date),
                )
            )
    return out.getvalue()


def quickbooks_online_payments_csv(payments: Iterable[ExportPayment]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(QBO_PAYMENT_COLUMNS)
    for payment in payments:
        writer.writerow(
            (
                _us_date(payment.received_on),
                payment.customer,
                payment.method,
                payment.reference,
                payment.invoice_number,
                _decimal(payment.amount_minor),
                f"Payment for invoice {payment.invoice_number}",
            )
        )
    return out.getvalue()


def chunks(invoices: Sequence[ExportInvoice], size: int = QBO_MAX_INVOICES) -> list[list[ExportInvoice]]:
    """Invoices in files of at most ``size`` (QuickBooks Online imports at most 100 at a time)."""
    return [list(invoices[start : start + size]) for start in range(0, len(invoices), size)] or [[]]


@dataclass(frozen=True)
class Download:
    filename: str
    body: bytes
    mimetype: str


def quickbooks_online_invoices(invoices: Sequence[ExportInvoice], stem: str) -> Download:
    """One CSV for up to 100 invoices; more make a zip of CSVs of at most 100 invoices each."""
    parts = chunks(invoices)
    if len(parts) == 1:
        return Download(f"{stem}.csv", quickbooks_online_csv(parts[0]).encode("utf-8"), "text/csv")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for index, part in enumerate(parts, start=1):
            bundle.writestr(f"{stem}-{index:02d}-of-{len(parts):02d}.csv", quickbooks_online_csv(part))
    return Download(f"{stem}.zip", archive.getvalue(), "application/zip")


def quickbooks_desktop_iif_bytes(
    invoices: Iterable[ExportInvoice],
    credit_notes: Iterable[ExportCreditNote] = (),
    payments: Iterable[ExportPayment] = (),
) -> bytes:
    """The IIF file as QuickBooks Desktop reads it: Windows-1252."""
    return quickbooks_desktop_iif(invoices, credit_notes, payments).encode(IIF_ENCODING)
