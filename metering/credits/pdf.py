"""A credit note as a one-page PDF (fpdf2, built-in Helvetica).

Invoices moved to an HTML document rendered by WeasyPrint (:mod:`metering.billing.pdf`); the credit
note still uses fpdf2 and its Latin-1 fonts, so these helpers stayed here with it.
"""

from __future__ import annotations

from fpdf import FPDF

from metering.credits.models import CreditNote, Settlement
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


_SETTLEMENT_WORDS = {
    Settlement.NEXT_INVOICE: "kept as credit and taken off your next invoices",
    Settlement.REFUND_STRIPE: "refunded to the card that paid it",
    Settlement.REFUNDED_OUTSIDE: "paid back to you by your provider",
}


def credit_note_pdf(note: CreditNote, reseller: Reseller | None) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(f"Credit note {note.number}")
    pdf.set_author(_text(reseller.name if reseller else "Seatmeter"))
    pdf.set_creation_date(note.issued_at)
    pdf.add_page()
    pdf.set_auto_page_break(auto=True, margin=15)

    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _text(reseller.name if reseller else "Credit note"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    if reseller and reseller.support_email:
        pdf.cell(0, 5, _text(reseller.support_email), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, f"Credit note {note.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for label, value in (
        ("Credited to", note.client.name),
        ("Invoice", note.invoice.number),
        ("Issued", f"{note.issued_at:%Y-%m-%d}"),
        ("Reason", note.reason),
    ):
        pdf.cell(30, 6, label)
        pdf.multi_cell(0, 6, _text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(147, 7, "Description", border="B")
    pdf.cell(33, 7, "Amount", border="B", align="R")
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for line in note.lines:
        y = pdf.get_y()
        pdf.multi_cell(147, 5, _text(line.description), new_x="LMARGIN", new_y="NEXT")
        height = max(pdf.get_y() - y, 5)
        pdf.set_xy(pdf.l_margin + 147, y)
        pdf.cell(33, 5, _money(line.amount_minor, note.currency), align="R")
        pdf.set_xy(pdf.l_margin, y + height + 1)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(147, 8, "Total credited", border="T", align="R")
    pdf.cell(33, 8, _money(note.amount_minor, note.currency), border="T", align="R")
    pdf.ln(12)
    pdf.set_font("Helvetica", "", 9)
    parts = []
    if note.reduces_invoice_minor:
        parts.append(
            f"{_money(note.reduces_invoice_minor, note.currency)} is taken off invoice {note.invoice.number}"
        )
    rest = note.refund_minor + note.carry_minor
    if rest:
        parts.append(f"{_money(rest, note.currency)} is {_SETTLEMENT_WORDS[note.settlement]}")
    pdf.multi_cell(0, 5, _text("; ".join(parts) + "."))
    return bytes(pdf.output())
