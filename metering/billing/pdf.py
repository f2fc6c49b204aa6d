"""An invoice as a one-page PDF (fpdf2, built-in Helvetica: no font files to ship or find)."""

from __future__ import annotations

from fpdf import FPDF

from metering.billing.models import Invoice, InvoiceStatus
from metering.periods import BillingPeriod
from portal.accounts.models import Reseller
from portal.money import format_amount

# The built-in PDF fonts cover Latin-1 only; typographic marks get their plain equivalents.
_PLAIN = str.maketrans(
    {
        "\u2014": "-",  # em dash
        "\u2013": "-",  # en dash
        "\u201c": '"',
        "\u201d": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u2026": "...",
        "\u20ac": "EUR",
    }
)


def _text(value: str) -> str:
    return value.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def _money(amount_minor: int, currency: str) -> str:
    return _text(format_amount(amount_minor, currency))


def invoice_pdf(invoice: Invoice, reseller: Reseller | None) -> bytes:
    month = BillingPeriod.parse(invoice.period)
    pdf = FPDF(format="A4")
    pdf.set_title(f"Invoice {invoice.number}")
    pdf.set_author(_text(reseller.name if reseller else "Seatmeter"))
    pdf.set_creation_date(invoice.finalized_at or invoice.built_at)
    pdf.add_page()
    pdf.set_auto_page_break(auto=True, margin=15)

    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _text(reseller.name if reseller else "Invoice"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    if reseller and reseller.support_email:
        pdf.cell(0, 5, _text(reseller.support_email), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    pdf.set_font("Helvetica", "B", 14)
    title = "DRAFT invoice" if invoice.status is InvoiceStatus.DRAFT else "Invoice"
    pdf.cell(0, 8, f"{title} {invoice.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    details = [
        ("Billed to", invoice.client.name),
        ("Month", month.label),
        ("Issued", f"{invoice.finalized_at:%Y-%m-%d}" if invoice.finalized_at else "not yet"),
        ("Status", invoice.status.value.capitalize()),
    ]
    for label, value in details:
        pdf.cell(30, 6, label)
        pdf.cell(0, 6, _text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    widths = (95, 22, 30, 33)
    pdf.set_font("Helvetica", "B", 10)
    for width, heading, align in zip(
        widths, ("Description", "Qty", "Unit price", "Amount"), "LRRR", strict=True
    ):
        pdf.cell(width, 7, heading, border="B", align=align)
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for line in invoice.lines:
        y = pdf.get_y()
        pdf.multi_cell(widths[0], 5, _text(line.description), new_x="LMARGIN", new_y="NEXT")
        height = max(pdf.get_y() - y, 5)
        pdf.set_xy(pdf.l_margin + widths[0], y)
        pdf.cell(widths[1], 5, f"{line.quantity:,}", align="R")
        pdf.cell(widths[2], 5, _money(line.unit_amount_minor, line.currency), align="R")
        pdf.cell(widths[3], 5, _money(line.amount_minor, line.currency), align="R")
        pdf.set_xy(pdf.l_margin, y + height + 1)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(sum(widths[:3]), 8, "Total", border="T", align="R")
    pdf.cell(widths[3], 8, _money(invoice.total_minor, invoice.currency), border="T", align="R")
    pdf.ln(12)
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(
        0,
        4,
        "Per-user services are billed for every person who held them at any time in the month, "
        "without proration. Adjustment lines correct an earlier month for usage reported late.",
    )
    return bytes(pdf.output())
