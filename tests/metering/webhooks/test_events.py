"""Each Stripe event that changes what is owed, posted as Stripe signs it, and where the invoice and
the client end up: SCA, void, write-off, refund, dispute, and a card added through Checkout."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from metering.billing.cards import adopt_card
from metering.billing.models import BillingAccount, Invoice, InvoiceStatus, StripeEvent
from metering.billing.stripe_push import ensure_client_customer, stripe_client
from metering.billing.tasks import enforce_dunning, push_invoice_now
from portal.accounts.models import Client, ClientStatus, Role
from portal.audit.models import AuditEvent
from portal.db import db
from tests.metering.months import TESTS, event
from tests.metering.webhooks.test_views import invoice_event, post
from tests.standins.ports import free_port

HOSTED = "https://invoice.stripe.com/i/acct_1Seatmeter/test_YWNtZQ"


def audit_actions(invoice: Invoice) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "invoice", AuditEvent.object_id == str(invoice.id))
            .order_by(AuditEvent.id)
        )
    )


def state_of(invoice: Invoice) -> tuple[InvoiceStatus, ClientStatus]:
    db.session.expire_all()
    return invoice.status, db.session.get_one(Client, invoice.client_id).status


# --- invoice.payment_action_required (3-D Secure / SCA) ----------------------------------------------


def test_sca_tells_the_client_where_to_confirm_and_the_billing_page_says_so(
    client, sent_invoice, make_user, login, caplog
):
    acme = sent_invoice.client
    acme.billing_email = "billing@acme.example"
    db.session.commit()
    payload = invoice_event("evt_sca", "invoice.payment_action_required", "in_test_1")
    payload["data"]["object"]["hosted_invoice_url"] = HOSTED

    with caplog.at_level("INFO", logger="seatmeter.mail"):
        response = post(client, payload)

    assert response.get_json()["result"] == "needs authentication"
    assert state_of(sent_invoice) == (InvoiceStatus.NEEDS_AUTHENTICATION, ClientStatus.ACTIVE)
    assert sent_invoice.stripe_hosted_invoice_url == HOSTED
    assert "To: billing@acme.example" in caplog.text
    assert f"Subject: Please confirm the payment of invoice {sent_invoice.number}" in caplog.text
    assert HOSTED in caplog.text
    assert "invoice.payment_needs_authentication" in audit_actions(sent_invoice)

    login(make_user(Role.CLIENT_ADMIN, acme))
    page = client.get("/billing/").get_data(as_text=True)
    assert "Needs authentication" in page and f'href="{HOSTED}"' in page
    detail = client.get(f"/billing/invoices/{sent_invoice.id}").get_data(as_text=True)
    assert "Your bank asks you to confirm this payment" in detail

    # Stripe also reports the attempt as failed: the invoice keeps waiting for the confirmation.
    failed = post(client, invoice_event("evt_sca_failed", "invoice.payment_failed", "in_test_1"))
    assert failed.get_json()["result"] == "unchanged: waiting for the client to authenticate"
    assert state_of(sent_invoice)[0] is InvoiceStatus.NEEDS_AUTHENTICATION
    # The client confirms on Stripe's page; Stripe reports the payment.
    post(client, invoice_event("evt_sca_paid", "invoice.paid", "in_test_1"))
    assert state_of(sent_invoice) == (InvoiceStatus.PAID, ClientStatus.ACTIVE)


def test_an_invoice_left_unconfirmed_leads_to_suspension_after_the_grace_period(client, sent_invoice, travel):
    post(client, invoice_event("evt_sca_2", "invoice.payment_action_required", "in_test_1"))

    travel("2026-11-10T12:00:00Z")
    assert enforce_dunning() == {"suspended": 0}
    travel("2026-11-20T12:00:00Z")
    assert enforce_dunning() == {"suspended": 1}
    assert state_of(sent_invoice) == (InvoiceStatus.NEEDS_AUTHENTICATION, ClientStatus.SUSPENDED)


# --- invoice.voided and invoice.marked_uncollectible -------------------------------------------------


@pytest.fixture
def no_retries(app):
    app.config["BILLING_RETRY_DAYS"] = []


def test_a_voided_invoice_is_never_chased_and_its_suspension_is_lifted(
    client, sent_invoice, travel, no_retries
):
    post(client, invoice_event("evt_f", "invoice.payment_failed", "in_test_1"))
    travel("2026-11-20T12:00:00Z")
    assert enforce_dunning() == {"suspended": 1}
    assert state_of(sent_invoice) == (InvoiceStatus.OVERDUE, ClientStatus.SUSPENDED)

    response = post(client, invoice_event("evt_v", "invoice.voided", "in_test_1"))

    assert response.get_json()["result"] == "void"
    assert state_of(sent_invoice) == (InvoiceStatus.VOID, ClientStatus.ACTIVE)
    assert sent_invoice.voided_at is not None
    assert enforce_dunning() == {"suspended": 0}
    assert audit_actions(sent_invoice)[-1] == "invoice.voided"
    account = db.session.scalars(select(BillingAccount)).one()
    assert account.suspended_for_nonpayment_at is None
    # A late "paid" for a void invoice changes nothing.
    late = post(client, invoice_event("evt_v_paid", "invoice.paid", "in_test_1"))
    assert late.get_json()["result"] == "already paid"
    assert state_of(sent_invoice)[0] is InvoiceStatus.VOID


def test_an_invoice_voided_before_the_grace_period_ends_never_suspends(
    client, sent_invoice, travel, no_retries
):
    post(client, invoice_event("evt_f2", "invoice.payment_failed", "in_test_1"))
    post(client, invoice_event("evt_v2", "invoice.voided", "in_test_1"))

    travel("2026-11-30T12:00:00Z")

    assert enforce_dunning() == {"suspended": 0}
    assert state_of(sent_invoice) == (InvoiceStatus.VOID, ClientStatus.ACTIVE)


def test_an_invoice_written_off_is_no_longer_chased(client, sent_invoice, travel, no_retries):
    post(client, invoice_event("evt_f3", "invoice.payment_failed", "in_test_1"))

    response = post(client, invoice_event("evt_u", "invoice.marked_uncollectible", "in_test_1"))

    assert response.get_json()["result"] == "uncollectible"
    travel("2026-11-30T12:00:00Z")
    assert enforce_dunning() == {"suspended": 0}
    assert state_of(sent_invoice) == (InvoiceStatus.UNCOLLECTIBLE, ClientStatus.ACTIVE)
    assert sent_invoice.uncollectible_at is not None
    # Stripe still accepts a late payment of a written-off invoice.
    post(client, invoice_event("evt_u_paid", "invoice.paid", "in_test_1"))
    assert state_of(sent_invoice) == (InvoiceStatus.PAID, ClientStatus.ACTIVE)


# --- charge.refunded and charge.dispute.created (a real payment through localstripe) ----------------


@pytest.fixture
def paid_through_stripe(app, webhook_app, client, stripe_env, month, make_client, make_user):
    """October's invoice, paid through localstripe; returns it and the PaymentIntent that paid it."""
    app.config.update(STRIPE_API_KEY=stripe_env.api_key, STRIPE_API_BASE=stripe_env.api_base)
    make_user(Role.RESELLER_ADMIN, email="owner@msp.example")
    acme = make_client("acme")
    api = stripe_client()
    customer = ensure_client_customer(api, acme)
    db.session.commit()
    method = api.v1.payment_methods.attach("pm_card_visa", params={"customer": customer})
    api.v1.customers.update(customer, params={"invoice_settings": {"default_payment_method": method.id}})
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    # No clock travel: Stripe-Signature timestamps are checked against the real clock.
    month.close("2026-10")
    month.finalize("2026-10")
    invoice = db.session.scalars(select(Invoice)).one()
    assert push_invoice_now(invoice.id) == "paid"
    db.session.refresh(invoice)
    remote = api.v1.invoices.retrieve(invoice.stripe_invoice_id)
    # localstripe keeps the PaymentIntent on the invoice (real Stripe: the invoice's payments).
    payment_intent = remote["payment_intent"]
    assert payment_intent.startswith("pi_")
    return invoice, payment_intent


def test_a_refund_is_recorded_and_the_reseller_told(client, paid_through_stripe, caplog):
    invoice, payment_intent = paid_through_stripe
    charge = {
        "id": "ch_refunded_1",
        "object": "charge",
        "payment_intent": payment_intent,
        "amount": invoice.total_minor,
        "amount_refunded": 1000,
        "refunded": False,
        "currency": "usd",
    }

    with caplog.at_level("INFO", logger="seatmeter.mail"):
        response = post(client, {"id": "evt_r", "type": "charge.refunded", "data": {"object": charge}})

    assert response.get_json()["result"] == "refund recorded"
    assert state_of(invoice) == (InvoiceStatus.PAID, ClientStatus.ACTIVE)
    assert audit_actions(invoice)[-1] == "invoice.refunded"
    assert "To: owner@msp.example" in caplog.text
    assert f"Subject: Refund on invoice {invoice.number}" in caplog.text
    assert "$10.00" in caplog.text


def test_a_dispute_is_recorded_and_the_reseller_told(client, paid_through_stripe, caplog):
    invoice, payment_intent = paid_through_stripe
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "charge": "ch_disputed_1",
        "payment_intent": payment_intent,
        "amount": invoice.total_minor,
        "currency": "usd",
        "reason": "fraudulent",
        "status": "needs_response",
        "evidence_details": {"due_by": int(time.time()) + 7 * 86400},
    }

    with caplog.at_level("INFO", logger="seatmeter.mail"):
        response = post(
            client, {"id": "evt_d", "type": "charge.dispute.created", "data": {"object": dispute}}
        )

    assert response.get_json()["result"] == "dispute recorded"
    assert state_of(invoice) == (InvoiceStatus.PAID, ClientStatus.ACTIVE)
    assert audit_actions(invoice)[-1] == "invoice.disputed"
    assert "To: owner@msp.example" in caplog.text
    assert f"Subject: Dispute on invoice {invoice.number}" in caplog.text
    assert "reason: fraudulent" in caplog.text


def test_a_refund_of_someone_elses_payment_is_ignored(client, paid_through_stripe):
    charge = {"id": "ch_other", "object": "charge", "payment_intent": "pi_not_ours", "amount_refunded": 5}

    response = post(client, {"id": "evt_r2", "type": "charge.refunded", "data": {"object": charge}})

    assert response.get_json()["result"] == "ignored: not one of our invoices"


# --- checkout.session.completed: the card is adopted even if the browser never comes back -----------


def test_checkout_completed_adopts_the_card_and_retries_the_unpaid_invoice(
    app, webhook_app, client, stripe_env, make_client, month, monkeypatch
):
    app.config.update(STRIPE_API_KEY=stripe_env.api_key, STRIPE_API_BASE=stripe_env.api_base)
    queued: list[int] = []
    monkeypatch.setattr(app.extensions["celery"], "send_task", lambda name, args, **kw: queued.extend(args))
    acme = make_client("acme")
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    month.close("2026-10")
    month.finalize("2026-10")
    invoice = db.session.scalars(select(Invoice)).one()
    queued.clear()
    assert push_invoice_now(invoice.id).startswith("payment failed")  # no card yet
    api = stripe_client()
    customer = db.session.scalars(select(BillingAccount)).one().stripe_customer_id
    # What Stripe's Checkout page does with the card the client typed in.
    intent = api.v1.setup_intents.create(params={"customer": customer})
    api.v1.setup_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "mode": "setup",
        "status": "complete",
        "customer": customer,
        "setup_intent": intent.id,
        "metadata": {"seatmeter_client": acme.ref},
    }

    response = post(
        client, {"id": "evt_c", "type": "checkout.session.completed", "data": {"object": session}}
    )

    assert response.get_json()["result"] == "card adopted"
    account = db.session.scalars(select(BillingAccount)).one()
    assert (account.card_brand, account.card_last4) == ("visa", "4242")
    assert queued == [invoice.id]  # the overdue invoice is charged to the new card
    assert push_invoice_now(invoice.id) == "paid"
    assert state_of(invoice) == (InvoiceStatus.PAID, ClientStatus.ACTIVE)
    # The browser comes back after all: the same card, nothing recorded twice.
    adopt_card(TESTS, acme, setup_intent_id=intent.id)
    db.session.commit()
    added = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "billing.card_added")).all()
    assert len(added) == 1


def test_a_payment_checkout_or_a_strangers_session_is_ignored(client, sent_invoice):
    payment = {"id": "cs_p", "object": "checkout.session", "mode": "payment", "customer": "cus_x"}
    stranger = {"id": "cs_s", "object": "checkout.session", "mode": "setup", "customer": "cus_stranger"}

    first = post(client, {"id": "evt_c1", "type": "checkout.session.completed", "data": {"object": payment}})
    second = post(
        client, {"id": "evt_c2", "type": "checkout.session.completed", "data": {"object": stranger}}
    )

    assert first.get_json()["result"] == "ignored: not a card setup"
    assert second.get_json()["result"] == "ignored: not one of our customers"


def test_when_stripe_cannot_be_asked_the_event_is_left_for_stripe_to_deliver_again(app, client, sent_invoice):
    app.config.update(STRIPE_API_KEY="sk_test_unreachable", STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}")
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount_refunded": 5}

    response = post(client, {"id": "evt_later", "type": "charge.refunded", "data": {"object": charge}})

    assert response.status_code == 503
    assert db.session.get(StripeEvent, "evt_later") is None
