"""The tax on our invoice reaches Stripe as Stripe TaxRates, and Stripe's total matches ours.

Checked against localstripe, which implements TaxRates and per-line tax rounded half up like ours,
but adds an *inclusive* tax on top of the total (real Stripe does not): so only exclusive rates are
verified here end to end; docs/invoices.md says so.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from metering.billing.cards import adopt_card
from metering.billing.models import Invoice, InvoiceStatus
from metering.billing.stripe_push import ensure_client_customer, stripe_client
from metering.billing.tasks import push_invoice_now
from metering.tax.models import TaxRate
from metering.tax.services import create_tax_rate, set_client_tax
from portal.accounts.models import Client
from portal.db import db
from tests.metering.months import TESTS, event


@pytest.fixture
def stripe_app(app, stripe_env):
    app.config.update(STRIPE_API_KEY=stripe_env.api_key, STRIPE_API_BASE=stripe_env.api_base)
    return stripe_env


def with_card(client: Client) -> None:
    """What the client does on Stripe's page (a Visa ending 4242), then the portal's return step."""
    api = stripe_client()
    customer_id = ensure_client_customer(api, client)
    db.session.commit()
    # localstripe only knows the older parameter name, which the pinned Stripe version no longer types.
    intent = api.v1.setup_intents.create(
        params={"customer": customer_id, "payment_method_types": ["card"]}  # type: ignore[arg-type]
    )
    api.v1.setup_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    adopt_card(TESTS, client, setup_intent_id=intent.id)
    db.session.commit()


def test_an_invoice_with_vat_is_charged_with_the_same_tax_in_stripe(stripe_app, make_client, month, travel):
    acme, bright = make_client("acme", "Acme Law LLP"), make_client("bright", "Bright Dental")
    with_card(acme)
    with_card(bright)
    vat = create_tax_rate(TESTS, "VAT", "23", False, "PL")
    set_client_tax(TESTS, acme, vat.id, False, None)
    set_client_tax(TESTS, bright, vat.id, False, None)
    db.session.commit()
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "acme", "bob@acme.example", "exchange", "start", "2026-10-04T09:00:00Z"),
        # 61 minutes at 2 cents: 1.22, whose 23 % is 0.2806 → 0.28 on the line.
        event("e3", "acme", None, "voip-minutes", "usage", "2026-10-05T09:00:00Z", quantity=61),
        event("e4", "bright", "dana@bright.example", "desktop", "start", "2026-10-03T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    invoices = {invoice.client.ref: invoice for invoice in db.session.scalars(select(Invoice))}
    ours = invoices["acme"]
    assert [line.tax_minor for line in ours.lines] == [897, 184, 28]
    assert ours.total_minor == 3900 + 800 + 122 + 897 + 184 + 28

    assert push_invoice_now(ours.id) == "paid"
    assert push_invoice_now(invoices["bright"].id) == "paid"

    db.session.refresh(ours)
    assert ours.status is InvoiceStatus.PAID
    remote = stripe_client().v1.invoices.retrieve(ours.stripe_invoice_id)
    assert (remote.amount_paid, remote.currency) == (ours.total_minor, "usd")
    # One Stripe TaxRate for our one rate, however many invoices and lines use it.
    rate = db.session.scalars(select(TaxRate)).one()
    assert rate.stripe_tax_rate_id is not None
    assert db.session.scalar(select(func.count()).select_from(TaxRate)) == 1
    stripe_rate = stripe_client().v1.tax_rates.retrieve(rate.stripe_tax_rate_id)
    assert (stripe_rate.percentage, stripe_rate.inclusive, stripe_rate.display_name) == (23.0, False, "VAT")
