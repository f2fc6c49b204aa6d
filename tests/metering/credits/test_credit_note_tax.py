"""A credit note keeps the tax inside what it gives back: on its lines, its PDF and in the books."""

from __future__ import annotations

import csv
import io
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from metering.billing.models import Invoice
from metering.credits.models import CreditNote, CreditNoteSource
from metering.credits.pdf import credit_note_pdf
from metering.credits.services import issue_credit_note
from metering.rating import tax_share
from metering.settings import billing_timezone
from metering.tax.services import create_tax_rate, set_client_tax
from portal.accounts.models import Client
from portal.accounts.services import get_reseller
from portal.db import db, utcnow
from portal.reseller.books import export_credit_note
from portal.reseller.exports import quickbooks_desktop_iif_bytes, quickbooks_online_credit_memos_csv
from tests.metering.billing.test_documents import TESTS, krakow_invoice, needs_poppler
from tests.metering.months import Month, event

__all__ = ["krakow_invoice"]  # the fixture: October for a Kraków client, 2 desktops, VAT 23 % added


def _taxed_october(month: Month, acme: Client, travel, percentage: str, inclusive: bool) -> Invoice:
    rate = create_tax_rate(TESTS, "VAT", percentage, inclusive, "PL")
    set_client_tax(TESTS, acme, rate.id, False, None)
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "acme", "alice@acme.example", "exchange", "start", "2026-10-03T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    db.session.expire_all()
    return month.invoice_row(acme.id, "2026-10")


def test_a_credited_line_carries_its_invoice_lines_tax_and_rate(month, acme, travel):
    invoice = _taxed_october(month, acme, travel, "23", inclusive=False)
    desktop, mailbox = invoice.lines
    assert (desktop.amount_minor, desktop.tax_minor, mailbox.amount_minor, mailbox.tax_minor) == (
        3900,
        897,
        800,
        184,
    )

    note = issue_credit_note(TESTS, invoice, "Mailbox never set up", utcnow(), line_ids=[mailbox.id])
    db.session.commit()
    db.session.expire_all()

    (line,) = note.lines
    # 8.00 plus its 23 % added: the client gets 9.84 back, 1.84 of it tax.
    assert (line.amount_minor, line.tax_minor) == (984, 184)
    assert (line.tax_name, line.tax_rate_ppm, line.tax_inclusive) == ("VAT", 230_000, False)
    assert (note.amount_minor, note.tax_minor, note.subtotal_minor) == (984, 184, 800)


def test_an_amount_credited_on_a_taxed_invoice_carries_the_rates_part_of_it(month, acme, travel):
    invoice = _taxed_october(month, acme, travel, "23", inclusive=False)

    note = issue_credit_note(TESTS, invoice, "Outage", utcnow(), amount_minor=1000)
    db.session.commit()

    (line,) = note.lines
    # 10.00 given back holds 10.00 x 0.23 / 1.23 = 1.869… of VAT, rounded on the line to 1.87.
    assert (line.amount_minor, line.tax_minor, line.tax_name, line.tax_rate_ppm) == (
        1000,
        187,
        "VAT",
        230_000,
    )
    assert (note.tax_minor, note.subtotal_minor) == (187, 813)


def test_an_amount_credited_on_an_inclusive_invoice_rounds_like_its_lines(month, acme, travel):
    invoice = _taxed_october(month, acme, travel, "24", inclusive=True)
    # 39.00 with 24 % inside: 7.55 of it is tax (39.00 x 0.24 / 1.24 = 7.548…).
    assert [line.tax_minor for line in invoice.lines] == [755, 155]

    note = issue_credit_note(TESTS, invoice, "Outage", utcnow(), amount_minor=3900)
    db.session.commit()

    # Credited as much as the desktop line: the same tax as that line, to the cent.
    assert (note.tax_minor, note.lines[0].tax_inclusive) == (755, True)


def test_an_untaxed_invoice_credits_no_tax(october):
    note = issue_credit_note(TESTS, october, "Outage", utcnow(), amount_minor=500)
    db.session.commit()

    assert (note.tax_minor, note.lines[0].tax_name, note.lines[0].tax_rate_ppm) == (0, None, None)


def test_an_amount_on_an_invoice_of_several_rates_carries_its_proportion_of_tax():
    # 100.00 + 23.00 VAT and 50.00 + 4.00 VAT: 27.00 of 177.00 is tax; 17.70 back holds 2.70.
    assert tax_share(1770, 2700, 17700) == 270
    assert tax_share(1, 1, 2) == 1  # a half cent rounds up, as on a line
    assert tax_share(1770, -2700, -17700) == 270  # a month that netted below zero
    assert tax_share(500, 0, 0) == 0


def test_a_month_netting_below_zero_credits_each_line_with_its_tax(month, acme, travel):
    rate = create_tax_rate(TESTS, "VAT", "23", False, "PL")
    set_client_tax(TESTS, acme, rate.id, False, None)
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-09-20T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    month.events(event("e2", "acme", "alice@acme.example", "desktop", "stop", "2026-09-28T09:00:00Z"))
    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")
    month.finalize("2026-11")
    db.session.expire_all()
    november = month.invoice_row(acme.id, "2026-11")
    assert (november.total_minor, november.tax_minor) == (-4797, -897)

    (note,) = db.session.scalars(select(CreditNote)).all()
    assert note.source is CreditNoteSource.MONTH_CLOSE
    # The lines add up to the note: each is what the client is owed back, its VAT included.
    assert [(line.amount_minor, line.tax_minor) for line in note.lines] == [(4797, 897)]
    assert (note.amount_minor, note.tax_minor, note.subtotal_minor) == (4797, 897, 3900)


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


@needs_poppler
def test_a_taxed_invoice_credited_in_part_shows_subtotal_tax_and_total_and_books_the_tax(
    krakow_invoice: Invoice, tmp_path: Path
):
    assert krakow_invoice.tax_minor > 0
    note = issue_credit_note(TESTS, krakow_invoice, "Przerwa w Łodzi — 2 dni", utcnow(), amount_minor=1234)
    db.session.commit()

    # €12.34 back holds 12.34 x 0.23 / 1.23 = 2.307… of VAT: €2.31, and €10.03 without it.
    assert (note.amount_minor, note.tax_minor, note.subtotal_minor) == (1234, 231, 1003)

    path = tmp_path / "credit-note.pdf"
    path.write_bytes(credit_note_pdf(note, get_reseller()))
    text = _pdf_text(path)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    for expected in ("Subtotal €10.03", "VAT 23 % €2.31", "Total credited €12.34"):
        assert expected in lines, f"{expected!r} missing from the PDF's text:\n{text}"

    exported = export_credit_note(note, billing_timezone())

    (memo,) = csv.DictReader(io.StringIO(quickbooks_online_credit_memos_csv([exported])))
    # Income lowered by what was credited without tax; the tax goes to the tax columns.
    assert (memo["ItemAmount"], memo["ItemTaxCode"], memo["ItemTaxAmount"]) == ("10.03", "VAT", "2.31")
    assert Decimal(memo["ItemAmount"]) + Decimal(memo["ItemTaxAmount"]) == Decimal("12.34")

    rows = [
        row.split("\t") for row in quickbooks_desktop_iif_bytes([], [exported]).decode("cp1252").split("\r\n")
    ]
    header = {name: index for index, name in enumerate(rows[0])}
    trns = next(row for row in rows if row[0] == "TRNS")
    splits = [row for row in rows if row[0] == "SPL"]
    assert (trns[header["TRNSTYPE"]], trns[header["AMOUNT"]]) == ("CREDIT MEMO", "-12.34")
    by_account = {row[header["ACCNT"]]: row[header["AMOUNT"]] for row in splits}
    assert by_account == {"Hosted Services Income": "10.03", "Sales Tax Payable": "2.31"}


@pytest.mark.parametrize("inclusive", [False, True])
def test_a_credited_line_books_the_same_income_and_tax_as_its_invoice_line(month, acme, travel, inclusive):
    invoice = _taxed_october(month, acme, travel, "23", inclusive=inclusive)
    desktop = invoice.lines[0]
    note = issue_credit_note(TESTS, invoice, "Desktop never delivered", utcnow(), line_ids=[desktop.id])
    db.session.commit()

    (memo,) = csv.DictReader(
        io.StringIO(quickbooks_online_credit_memos_csv([export_credit_note(note, billing_timezone())]))
    )
    net = desktop.amount_minor - (desktop.tax_minor if inclusive else 0)
    assert (memo["ItemQuantity"], memo["ItemAmount"], memo["ItemTaxAmount"]) == (
        "1",
        f"{Decimal(net) / 100:.2f}",
        f"{Decimal(desktop.tax_minor) / 100:.2f}",
    )
