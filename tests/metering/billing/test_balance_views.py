"""The client's billing pages show what is left to pay, the credit notes, and their PDFs."""

from __future__ import annotations

from sqlalchemy import select

from metering.billing.models import Invoice
from metering.credits.models import CreditNote, PaymentMethod
from metering.credits.payments import record_payment
from metering.credits.services import issue_credit_note
from portal.accounts.models import Role
from portal.db import db, utcnow
from tests.metering.months import TESTS, event


def _october(month, make_client, travel) -> tuple[Invoice, Invoice]:
    make_client("acme", "Acme Law LLP")
    make_client("bright")
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "bright", "dana@bright.example", "exchange", "start", "2026-10-03T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    rows = {row.client.ref: row for row in db.session.scalars(select(Invoice))}
    return rows["acme"], rows["bright"]


def test_the_client_sees_the_balance_and_its_credit_notes(
    client, month, make_client, travel, make_user, login
):
    acme, bright = _october(month, make_client, travel)
    issue_credit_note(TESTS, acme, "Desktop down on 5 October", utcnow(), amount_minor=900)
    record_payment(TESTS, acme, 1000, PaymentMethod.TRANSFER, utcnow().date(), "SEPA 1", utcnow())
    issue_credit_note(TESTS, bright, "Bright's own", utcnow(), amount_minor=100)
    db.session.commit()
    login(make_user(Role.CLIENT_ADMIN, acme.client))

    index = client.get("/billing/").get_data(as_text=True)
    assert '<td class="num balance">$20.00</td>' in index
    assert "CN-0001" in index and "Desktop down on 5 October" in index
    assert "CN-0002" not in index  # bright's

    detail = client.get(f"/billing/invoices/{acme.id}").get_data(as_text=True)
    assert 'id="total">$39.00' in detail
    assert "Credit note CN-0001: Desktop down on 5 October" in detail
    assert 'id="balance-due">$20.00' in detail

    mine = db.session.scalars(select(CreditNote).where(CreditNote.client_id == acme.client_id)).one()
    theirs = db.session.scalars(select(CreditNote).where(CreditNote.client_id == bright.client_id)).one()
    pdf = client.get(f"/billing/credit-notes/{mine.id}.pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert client.get(f"/billing/credit-notes/{theirs.id}.pdf").status_code == 404


def test_a_month_that_nets_negative_reaches_the_client_as_a_credit_note(
    client, month, make_client, travel, make_user, login
):
    acme = make_client("acme", "Acme Law LLP")
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-09-20T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    month.events(event("e2", "acme", "alice@acme.example", "desktop", "stop", "2026-09-28T09:00:00Z"))
    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")
    month.finalize("2026-11")
    november = month.invoice_row(acme.id, "2026-11")
    login(make_user(Role.CLIENT_ADMIN, acme))

    index = client.get("/billing/").get_data(as_text=True)

    assert f"invoice-{november.id}" not in index
    assert "CN-0001" in index and "$39.00" in index
    assert "Taken off your next invoices." in index
    assert client.get(f"/billing/invoices/{november.id}").status_code == 404
    assert client.get(f"/billing/invoices/{november.id}.pdf").status_code == 404
