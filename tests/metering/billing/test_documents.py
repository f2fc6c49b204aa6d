"""Invoices as documents: the PDF a Kraków client receives in euros, read back with poppler."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import update

from metering.billing.documents import invoice_document, state_label
from metering.billing.models import Invoice, InvoiceStatus
from metering.billing.pdf import invoice_pdf
from metering.tax.services import create_tax_rate, set_client_tax
from portal.accounts.end_user_services import add_end_user
from portal.accounts.profile_services import ResellerProfile, update_client_billing, update_reseller_profile
from portal.accounts.services import get_reseller
from portal.audit.services import Actor
from portal.catalog.models import Product, ProductPrice
from portal.db import db, utcnow
from tests.metering.months import event

TESTS = Actor.system("tests")
POPPLER = shutil.which("pdftotext") and shutil.which("pdftoppm")
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdftotext, pdftoppm) not installed")


def _in_euros() -> None:
    db.session.execute(update(Product).values(currency="EUR"))
    db.session.execute(update(ProductPrice).values(currency="EUR"))


@pytest.fixture
def krakow_invoice(app, month, make_client, travel, tmp_path) -> Invoice:
    """October 2026 for a law office in Kraków, billed in EUR with VAT 23 %, finalized in Warsaw time."""
    app.config["BILLING_TIMEZONE"] = "Europe/Warsaw"
    _in_euros()
    update_reseller_profile(
        TESTS,
        ResellerProfile(
            name="Północ IT Sp. z o.o.",
            address="ul. Floriańska 1\n31-019 Kraków\nPolska",
            tax_id="PL6762000000",
            support_email="pomoc@polnoc.example",
            support_phone="+48 12 000 00 00",
            payment_instructions=(
                "Północ IT Sp. z o.o.\nIBAN PL61 1090 1014 0000 0712 1981 2874\nBIC WBKPPLPP"
            ),
            invoice_prefix="PN-",
            payment_terms_days=14,
        ),
    )
    client = make_client("kancelaria", "Kancelaria Wiśniewski")
    update_client_billing(
        TESTS, client, "faktury@kancelaria.example", None, "ul. Łódzka 7/3\n31-222 Kraków", "PL1234563218"
    )
    vat = create_tax_rate(TESTS, "VAT", "23", False, "PL")
    set_client_tax(TESTS, client, vat.id, False, None)
    add_end_user(TESTS, client, "Дмитрий Соколов", "dmitrij@kancelaria.example")
    add_end_user(TESTS, client, "Σοφία Παπαδοπούλου", "sofia@kancelaria.example")
    db.session.commit()
    month.events(
        event("e1", "kancelaria", "dmitrij@kancelaria.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "kancelaria", "sofia@kancelaria.example", "desktop", "start", "2026-10-05T09:00:00Z"),
    )
    # 23:30 UTC on 31 October is already 1 November in Warsaw: the issue date is the Warsaw one.
    travel("2026-10-31T23:30:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    return month.invoice_row(client.id, "2026-10")


def test_the_invoice_carries_its_tax_due_date_and_number(krakow_invoice):
    invoice = krakow_invoice

    assert invoice.currency == "EUR"
    assert invoice.subtotal_minor == 2 * 3900
    assert [line.tax_minor for line in invoice.lines] == [1794]  # 23 % of 78.00
    assert invoice.tax_minor == 1794 and invoice.total_minor == 7800 + 1794
    assert str(invoice.due_on) == "2026-11-15"  # issued 1 November in Warsaw, 14 days' terms
    assert invoice.number.startswith("PN-2026-10-")


@needs_poppler
def test_the_pdf_reads_back_with_polish_greek_and_cyrillic_text_and_the_euro_sign(
    krakow_invoice, tmp_path: Path
):
    path = tmp_path / "invoice.pdf"
    path.write_bytes(invoice_pdf(krakow_invoice, get_reseller()))

    text = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for expected in (
        "Północ IT Sp. z o.o.",  # the seller
        "ul. Floriańska 1",
        "PL6762000000",
        "Kancelaria Wiśniewski",  # the buyer, in Kraków with Łódź in its street
        "ul. Łódzka 7/3",
        "31-222 Kraków",
        "PL1234563218",
        f"Invoice {krakow_invoice.number}",
        "01 November 2026",  # issued (Warsaw time)
        "15 November 2026",  # due
        "01 October 2026 \N{EN DASH} 31 October 2026",  # the service period
        "€78.00",  # quantity x unit = amount, and the subtotal
        "€17.94",  # VAT 23 %
        "VAT 23 %",
        "€95.94",  # total and balance due
        "€0.00",  # amount paid
        "IBAN PL61 1090 1014 0000 0712 1981 2874",  # no card on file: the bank details
        "Дмитрий Соколов",  # the per-person appendix, in Cyrillic and Greek
        "Σοφία Παπαδοπούλου",
    ):
        assert expected in text, f"{expected!r} missing from the PDF's text:\n{text}"
    assert "Due" in text and "Finalized" not in text

    fonts = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    assert "DejaVu" in fonts or "Noto" in fonts, fonts

    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")], check=True
    )
    (page,) = tmp_path.glob("page*.png")
    with Image.open(page) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert height > width  # A4 portrait
        # Something is drawn: a blank page would be white only.
        darkest = image.convert("L").getextrema()[0]
        assert isinstance(darkest, int) and darkest < 100


def test_issued_invoices_keep_the_parties_they_were_issued_with(krakow_invoice):
    client = krakow_invoice.client
    update_client_billing(TESTS, client, None, None, "ul. Nowa 1\n00-001 Warszawa", None)
    db.session.commit()

    document = invoice_document(krakow_invoice, get_reseller(), krakow_invoice.starts_at.tzinfo, utcnow())

    assert document.buyer.address_lines == ("ul. Łódzka 7/3", "31-222 Kraków")


@pytest.mark.parametrize(
    ("status", "due", "today", "label"),
    [
        (InvoiceStatus.FINALIZED, "2026-11-15", "2026-11-15", "Due"),
        (InvoiceStatus.FINALIZED, "2026-11-15", "2026-11-16", "Overdue"),
        (InvoiceStatus.OVERDUE, "2026-11-15", "2026-11-02", "Overdue"),
        (InvoiceStatus.PAID, "2026-11-15", "2026-12-30", "Paid"),
        (InvoiceStatus.DRAFT, None, "2026-11-02", "Draft"),
    ],
)
def test_the_state_is_said_in_plain_words(status, due, today, label):
    from datetime import date

    invoice = Invoice(status=status, due_on=date.fromisoformat(due) if due else None)

    assert state_label(invoice, date.fromisoformat(today)) == label
