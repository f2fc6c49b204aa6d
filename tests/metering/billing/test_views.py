"""The client's billing pages: invoices, their PDF, and adding a card through Stripe."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from metering.billing.dunning import mark_paid
from metering.billing.models import BillingAccount, Invoice
from metering.billing.stripe_push import ensure_client_customer, stripe_client
from portal.accounts.models import Role
from portal.db import db, utcnow
from tests.metering.months import TESTS, event


@pytest.fixture
def billed(month, make_client, travel):
    """acme's October finalized, bright's October finalized, acme's November still a draft."""
    acme, bright = make_client("acme", "Acme Law LLP"), make_client("bright")
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "bright", "dana@bright.example", "exchange", "start", "2026-10-03T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")
    invoices = {(row.client.ref, row.period): row for row in db.session.scalars(select(Invoice))}
    return acme, bright, invoices


def test_the_client_admin_sees_issued_invoices_only(client, billed, make_user, login):
    acme, _bright, invoices = billed
    login(make_user(Role.CLIENT_ADMIN, acme))

    page = client.get("/billing/")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    october = invoices[("acme", "2026-10")]
    assert f"invoice-{october.id}" in html and "October 2026" in html and "$39.00" in html
    assert f"invoice-{invoices[('acme', '2026-11')].id}" not in html  # the draft
    assert "No card on file yet" in html
    detail = client.get(f"/billing/invoices/{october.id}").get_data(as_text=True)
    assert "Hosted Desktop — 1 user, October 2026" in detail and 'id="total">$39.00' in detail
    pdf = client.get(f"/billing/invoices/{october.id}.pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert f"invoice-{october.number}.pdf" in pdf.headers["Content-Disposition"]


def test_other_clients_invoices_and_drafts_are_not_found(client, billed, make_user, login):
    acme, _bright, invoices = billed
    login(make_user(Role.CLIENT_ADMIN, acme))

    assert client.get(f"/billing/invoices/{invoices[('bright', '2026-10')].id}").status_code == 404
    assert client.get(f"/billing/invoices/{invoices[('bright', '2026-10')].id}.pdf").status_code == 404
    assert client.get(f"/billing/invoices/{invoices[('acme', '2026-11')].id}").status_code == 404


def test_billing_is_for_the_client_admin(client, billed, make_user, login):
    acme, _bright, _invoices = billed
    login(make_user(Role.CLIENT_USER, acme))

    assert client.get("/billing/").status_code == 403


def test_adding_a_card_without_stripe_configured_says_so(client, billed, make_user, login):
    acme, _bright, _invoices = billed
    login(make_user(Role.CLIENT_ADMIN, acme))

    response = client.post("/billing/card", follow_redirects=True)

    assert "Card payments are not set up yet" in response.get_data(as_text=True)


def test_back_from_stripe_the_card_becomes_the_default(app, client, stripe_env, billed, make_user, login):
    app.config.update(STRIPE_API_KEY=stripe_env.api_key, STRIPE_API_BASE=stripe_env.api_base)
    acme, bright, _invoices = billed
    login(make_user(Role.CLIENT_ADMIN, acme))
    api = stripe_client()
    customer = ensure_client_customer(api, acme)
    db.session.commit()
    # What Stripe's page does with the card the person types in.
    intent = api.v1.setup_intents.create(params={"customer": customer, "payment_method_types": ["card"]})
    api.v1.setup_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})

    response = client.get(f"/billing/card/return?setup_intent={intent.id}", follow_redirects=True)

    html = response.get_data(as_text=True)
    assert "Visa ending 4242 will be charged" in html
    assert "Invoices are charged to your" in html
    remote = api.v1.customers.retrieve(customer)
    assert remote.invoice_settings.default_payment_method is not None
    account = db.session.scalars(select(BillingAccount).where(BillingAccount.client_id == acme.id)).one()
    assert account.card_last4 == "4242"

    # bright's setup intent, brought back by acme's admin, is not found.
    bright_customer = ensure_client_customer(api, bright)
    db.session.commit()
    other = api.v1.setup_intents.create(params={"customer": bright_customer})
    api.v1.setup_intents.confirm(other.id, params={"payment_method": "pm_card_visa"})
    assert client.get(f"/billing/card/return?setup_intent={other.id}").status_code == 404


def test_invoice_pages_and_pdfs_are_not_stored_by_the_browser(client, billed, make_user, login):
    acme, _bright, invoices = billed
    login(make_user(Role.CLIENT_ADMIN, acme))
    october = invoices[("acme", "2026-10")]

    for path in ("/billing/", f"/billing/invoices/{october.id}", f"/billing/invoices/{october.id}.pdf"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


def test_the_billing_page_says_due_overdue_and_paid_with_due_dates_and_pay_now(
    client, billed, make_user, login, travel
):
    acme, _bright, invoices = billed
    october = invoices[("acme", "2026-10")]
    october.stripe_hosted_invoice_url = "https://invoice.stripe.com/i/acct_test/inv_test"
    db.session.commit()
    login(make_user(Role.CLIENT_ADMIN, acme))

    travel("2026-11-10T12:00:00Z")  # issued 2 November, due 16 November
    row = client.get("/billing/").get_data(as_text=True)
    assert "Due</span>" in row and "2026-11-16" in row and "Finalized" not in row
    assert 'href="https://invoice.stripe.com/i/acct_test/inv_test" class="pay-now"' in row

    travel("2026-11-17T12:00:00Z")
    assert "Overdue</span>" in client.get("/billing/").get_data(as_text=True)
    detail = client.get(f"/billing/invoices/{october.id}").get_data(as_text=True)
    assert 'id="pay-now"' in detail and "This invoice is overdue" in detail
    assert "alice@acme.example" in detail  # the per-person appendix: who held each line, which days
    assert "03 Oct \N{EN DASH} 31 Oct" in detail

    mark_paid(TESTS, october, utcnow())
    db.session.commit()
    paid = client.get("/billing/").get_data(as_text=True)
    assert "Paid</span>" in paid and "pay-now" not in paid
