"""A credit note as a PDF: the credit-note template (``billing/credit_note_pdf.html``) rendered by
WeasyPrint, with the invoice document's stylesheet and fonts (:mod:`metering.billing.pdf`), so any
script the invoice can print (Latin, Greek, Cyrillic, the euro sign) the credit note prints too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from weasyprint import CSS, HTML, URLFetcher

from metering.billing.documents import Party, TaxSummary, document_parties, logo_data_uri
from metering.billing.pdf import STYLESHEET
from metering.credits.models import CreditNote, Settlement
from metering.settings import billing_timezone
from metering.tax.models import format_rate
from portal.accounts.models import Reseller
from portal.money import format_amount

_SETTLEMENT_WORDS = {
    Settlement.NEXT_INVOICE: "kept as credit and taken off your next invoices",
    Settlement.REFUND_STRIPE: "refunded to the card that paid it",
    Settlement.REFUNDED_OUTSIDE: "paid back to you by your provider",
}


@dataclass(frozen=True)
class CreditNoteDocument:
    note: CreditNote
    seller: Party
    buyer: Party
    logo_data_uri: str | None
    issued_on: date
    settlement: str  # where the money goes, in a sentence
    # The tax inside the amount credited, one row per rate (the invoice's rates); empty when untaxed.
    taxes: tuple[TaxSummary, ...]


def settlement_sentence(note: CreditNote) -> str:
    parts = []
    if note.reduces_invoice_minor:
        amount = format_amount(note.reduces_invoice_minor, note.currency)
        parts.append(f"{amount} is taken off invoice {note.invoice.number}")
    rest = note.refund_minor + note.carry_minor
    if rest:
        parts.append(f"{format_amount(rest, note.currency)} is {_SETTLEMENT_WORDS[note.settlement]}")
    return "; ".join(parts) + "."


def credit_note_taxes(note: CreditNote) -> tuple[TaxSummary, ...]:
    """One row per rate of the credited lines, in the order the lines first use it.

    Every amount on a credit note includes its tax (it is what the client gets back), so the rows
    say the rate, not whether the invoice added or included it. A credit of an amount on an invoice
    with several rates carries the invoice's proportion of tax under "Tax".
    """
    sums: dict[tuple[str, int | None], int] = {}
    for line in note.lines:
        if not line.tax_minor and line.tax_rate_ppm is None:
            continue
        key = (line.tax_name or "Tax", line.tax_rate_ppm)
        sums[key] = sums.get(key, 0) + line.tax_minor
    return tuple(
        TaxSummary(f"{name} {format_rate(rate)} %" if rate is not None else name, False, amount)
        for (name, rate), amount in sums.items()
    )


def credit_note_document(note: CreditNote, reseller: Reseller | None, tz: ZoneInfo) -> CreditNoteDocument:
    # The parties of the invoice it credits, as that invoice printed them.
    seller, buyer = document_parties(note.invoice, reseller)
    return CreditNoteDocument(
        note=note,
        seller=seller,
        buyer=buyer,
        logo_data_uri=logo_data_uri(reseller),
        issued_on=note.issued_at.astimezone(tz).date(),
        settlement=settlement_sentence(note),
        taxes=credit_note_taxes(note),
    )


def render_credit_note_html(note: CreditNote, reseller: Reseller | None, tz: ZoneInfo | None = None) -> str:
    document = credit_note_document(note, reseller, tz or billing_timezone())
    return render_template("billing/credit_note_pdf.html", doc=document)


def credit_note_pdf(note: CreditNote, reseller: Reseller | None, tz: ZoneInfo | None = None) -> bytes:
    html = render_credit_note_html(note, reseller, tz)
    stylesheet = CSS(filename=str(Path(current_app.static_folder or "") / STYLESHEET))
    # Only data: URIs (the logo) are read; a link in a reason never reaches the network.
    fetcher = URLFetcher(allowed_protocols={"data"})
    pdf = HTML(string=html, url_fetcher=fetcher).write_pdf(stylesheets=[stylesheet])
    assert pdf is not None
    return pdf
