"""A credit note's PDF, read back with poppler: Polish letters and the euro sign survive."""

from __future__ import annotations

import subprocess
from pathlib import Path

from metering.billing.models import Invoice
from metering.credits.pdf import credit_note_pdf
from metering.credits.services import issue_credit_note
from portal.accounts.services import get_reseller
from portal.db import db, utcnow
from tests.metering.billing.test_documents import TESTS, krakow_invoice, needs_poppler

__all__ = ["krakow_invoice"]  # the fixture, shared with the invoice document's tests


def _text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


@needs_poppler
def test_the_credit_note_pdf_reads_back_with_polish_letters_and_the_euro_sign(
    krakow_invoice: Invoice, tmp_path: Path
):
    note = issue_credit_note(
        TESTS, krakow_invoice, "Przerwa w serwerowni w Łodzi — 2 dni", utcnow(), amount_minor=1234
    )
    db.session.commit()
    path = tmp_path / "credit-note.pdf"
    path.write_bytes(credit_note_pdf(note, get_reseller()))

    text = _text(path)
    for expected in (
        "Północ IT Sp. z o.o.",  # the seller, as the invoice printed it
        "PL6762000000",
        "Kancelaria Wiśniewski",  # the buyer, with Łódź in its street
        "ul. Łódzka 7/3",
        f"Credit note {note.number}",
        krakow_invoice.number,
        "Przerwa w serwerowni w Łodzi — 2 dni",  # the reason, dash and all
        "€12.34",  # the amount, with the euro sign (not "EUR", not "?")
        f"€12.34 is taken off invoice {krakow_invoice.number}",
    ):
        assert expected in text, f"{expected!r} missing from the PDF's text:\n{text}"
    assert "?" not in text

    fonts = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    assert "DejaVu" in fonts or "Noto" in fonts, fonts
