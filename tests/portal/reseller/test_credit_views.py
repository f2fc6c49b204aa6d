"""The console's page for an issued invoice's money: payments and credit notes entered, bad input refused."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from metering.billing.models import Invoice, InvoiceStatus
from metering.credits.models import CreditNote, Payment
from portal.audit.models import AuditEvent
from portal.db import db


def _september(business) -> Invoice:
    return db.session.scalars(
        select(Invoice).where(Invoice.period == "2026-09", Invoice.client_id == business.acme.id)
    ).one()


def _october_draft(business) -> Invoice:
    return db.session.scalars(
        select(Invoice).where(Invoice.period == "2026-10", Invoice.client_id == business.acme.id)
    ).one()


def _count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def _audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_partial_payments_then_paid_with_the_balance_on_the_page(client, business, admin):
    invoice = _september(business)
    total = invoice.total_minor
    page = client.get(f"/reseller/invoices/{invoice.id}").get_data(as_text=True)
    assert f'id="balance-due">${total / 100:,.2f} due' in page
    assert "Record a payment" in page and "Issue a credit note" in page

    response = client.post(
        f"/reseller/invoices/{invoice.id}/payments",
        data={"amount": "10.00", "method": "transfer", "received_on": "2026-11-02", "reference": "SEPA 1"},
    )
    assert response.status_code == 302
    page = client.get(f"/reseller/invoices/{invoice.id}").get_data(as_text=True)
    assert f'id="balance-due">${(total - 1000) / 100:,.2f} due' in page
    assert "SEPA 1" in page

    rest = f"{(total - 1000) / 100:.2f}"
    client.post(
        f"/reseller/invoices/{invoice.id}/payments",
        data={"amount": rest, "method": "cheque", "received_on": "2026-11-03", "reference": "Cheque 7"},
    )
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status is InvoiceStatus.PAID
    page = client.get(f"/reseller/invoices/{invoice.id}").get_data(as_text=True)
    assert 'id="balance-due">$0.00 due' in page
    assert "Record a payment" not in page  # nothing is owed any more


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("abc", "“abc” is not an amount; write it like 39.00"),
        ("0", "The amount must be more than zero."),
        ("-5", "The amount must be zero or more."),
        ("1.005", "Use at most two decimal places."),
        ("999999", "is more than the"),
    ],
)
def test_bad_payments_are_plain_errors_and_nothing_is_saved(client, business, admin, amount, message):
    invoice = _september(business)
    audit = _audit_count()

    response = client.post(
        f"/reseller/invoices/{invoice.id}/payments",
        data={"amount": amount, "method": "transfer", "received_on": "2026-11-02"},
    )

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _count(Payment) == 0
    assert _audit_count() == audit


def test_a_bad_day_is_a_field_error(client, business, admin):
    invoice = _september(business)
    response = client.post(
        f"/reseller/invoices/{invoice.id}/payments",
        data={"amount": "5", "method": "transfer", "received_on": "yesterday"},
    )
    assert response.status_code == 422
    assert "Write it as YYYY-MM-DD" in response.get_data(as_text=True)
    assert _count(Payment) == 0


def test_a_draft_takes_no_payment_and_no_credit_note(client, business, admin):
    draft = _october_draft(business)

    paid = client.post(
        f"/reseller/invoices/{draft.id}/payments",
        data={"amount": "5", "method": "transfer", "received_on": "2026-11-02"},
    )
    credited = client.post(
        f"/reseller/invoices/{draft.id}/credit-notes",
        data={"amount": "5", "reason": "Outage", "settlement": "next_invoice"},
    )

    assert paid.status_code == 409
    assert "is a draft: it can be paid once it is approved" in paid.get_data(as_text=True)
    assert credited.status_code == 409
    assert "Only an issued invoice can be credited." in credited.get_data(as_text=True)
    assert (_count(Payment), _count(CreditNote)) == (0, 0)


def test_a_credit_note_is_issued_numbered_and_downloadable(client, business, admin):
    invoice = _september(business)
    total = invoice.total_minor

    response = client.post(
        f"/reseller/invoices/{invoice.id}/credit-notes",
        data={"amount": "5.00", "reason": "Desktop down on 3 September", "settlement": "next_invoice"},
    )

    assert response.status_code == 302
    page = client.get(f"/reseller/invoices/{invoice.id}").get_data(as_text=True)
    assert "CN-0001" in page and "Desktop down on 3 September" in page
    assert f'id="balance-due">${(total - 500) / 100:,.2f} due' in page
    note = db.session.scalars(select(CreditNote)).one()
    pdf = client.get(f"/reseller/credit-notes/{note.id}.pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert 'filename="credit-note-CN-0001.pdf"' in pdf.headers["Content-Disposition"]


def test_a_credit_note_larger_than_the_invoice_is_refused_and_nothing_is_saved(client, business, admin):
    invoice = _september(business)
    audit = _audit_count()

    response = client.post(
        f"/reseller/invoices/{invoice.id}/credit-notes",
        data={"amount": "100000", "reason": "Too much", "settlement": "next_invoice"},
    )

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "is larger than what is left to credit on invoice" in html
    assert (_count(CreditNote), _audit_count()) == (0, audit)
    missing_reason = client.post(
        f"/reseller/invoices/{invoice.id}/credit-notes", data={"amount": "5", "reason": ""}
    )
    assert missing_reason.status_code == 422
    assert "Say why; the client reads it." in missing_reason.get_data(as_text=True)
    assert _count(CreditNote) == 0


def test_crediting_chosen_lines(client, business, admin):
    invoice = _september(business)
    line = invoice.lines[0]

    response = client.post(
        f"/reseller/invoices/{invoice.id}/credit-notes",
        data={"lines": [str(line.id)], "reason": "Not delivered", "settlement": "next_invoice"},
    )

    assert response.status_code == 302
    note = db.session.scalars(select(CreditNote)).one()
    assert [(cn_line.invoice_line_id, cn_line.amount_minor) for cn_line in note.lines] == [
        (line.id, line.amount_minor)
    ]


def test_staff_see_the_page_but_enter_nothing(client, business, staff):
    invoice = _september(business)

    page = client.get(f"/reseller/invoices/{invoice.id}").get_data(as_text=True)
    posted = client.post(
        f"/reseller/invoices/{invoice.id}/payments",
        data={"amount": "5", "method": "transfer", "received_on": "2026-11-02"},
    )

    assert "Record a payment" not in page
    assert posted.status_code == 403
    assert _count(Payment) == 0


def test_an_unknown_invoice_is_not_found(client, business, admin):
    assert client.get("/reseller/invoices/999999").status_code == 404
    assert client.get("/reseller/credit-notes/999999.pdf").status_code == 404


def test_the_bill_page_shows_the_balance_and_links_to_payments(client, business, admin):
    invoice = _september(business)
    client.post(
        f"/reseller/invoices/{invoice.id}/payments",
        data={"amount": "10.00", "method": "transfer", "received_on": "2026-11-02"},
    )

    page = client.get(f"/reseller/review/2026-09/invoices/{invoice.id}").get_data(as_text=True)

    owed = f"${(invoice.total_minor - 1000) / 100:,.2f}"
    assert f'Balance due: <strong>{owed}</strong> <small class="muted">after payments and credits' in page
    assert f'href="/reseller/invoices/{invoice.id}" id="money-link"' in page
