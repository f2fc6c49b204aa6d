"""Finalized invoices go to Stripe (localstripe here), get paid or go overdue, and dunning follows.

Stripe calls happen in the push task, after the finalize committed; these tests run the task's body
directly. localstripe ignores idempotency keys, so "a retry never charges twice" is shown here by the
push resuming from what it recorded and what is pending on the Customer.
"""

from __future__ import annotations

import pytest
import stripe
from sqlalchemy import select

from metering.billing.cards import adopt_card
from metering.billing.finalize import finalize_period
from metering.billing.models import BillingAccount, Invoice, InvoiceStatus
from metering.billing.queries import parse_period
from metering.billing.stripe_push import ensure_client_customer, invoices_to_push, plain_reason, stripe_client
from metering.billing.tasks import SWEEP_AFTER, enforce_dunning, push_invoice_now, push_sweep
from metering.settings import billing_timezone
from portal.accounts.models import ClientStatus
from portal.audit.models import AuditEvent
from portal.db import db, utcnow
from portal.errors import NotFound
from tests.metering.months import TESTS, event


@pytest.fixture
def stripe_app(app, stripe_env):
    app.config.update(STRIPE_API_KEY=stripe_env.api_key, STRIPE_API_BASE=stripe_env.api_base)
    return stripe_env


@pytest.fixture
def acme(make_client, month, stripe_app):
    client = make_client("acme", "Acme Law LLP")
    client.billing_email = "billing@acme.example"
    db.session.commit()
    return client


def add_card(client, payment_method: str = "pm_card_visa") -> BillingAccount:
    """What the client does on Stripe's page, then the portal's return step."""
    api = stripe_client()
    customer_id = ensure_client_customer(api, client)
    db.session.commit()
    # Stripe's own page does this step on real Stripe; localstripe only knows the older parameter
    # name, which the pinned version no longer types.
    intent = api.v1.setup_intents.create(
        params={"customer": customer_id, "payment_method_types": ["card"]}  # type: ignore[arg-type]
    )
    api.v1.setup_intents.confirm(intent.id, params={"payment_method": payment_method})
    account = adopt_card(TESTS, client, setup_intent_id=intent.id)
    db.session.commit()
    return account


def retry_due_payments() -> list[str]:
    """What beat's push sweep queues, run here: the invoices whose retry is due."""
    return [push_invoice_now(invoice_id) for invoice_id in invoices_to_push(utcnow(), SWEEP_AFTER)]


def finalized_october(month, travel) -> Invoice:
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "acme", "bob@acme.example", "exchange", "start", "2026-10-04T09:00:00Z"),
        event("e3", "acme", None, "voip-minutes", "usage", "2026-10-05T09:00:00Z", quantity=61),
    )
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    return db.session.scalars(select(Invoice)).one()


def test_a_finalized_invoice_is_charged_to_the_card_on_file(acme, month, travel):
    account = add_card(acme)
    assert (account.card_brand, account.card_last4) == ("visa", "4242")
    invoice = finalized_october(month, travel)

    assert push_invoice_now(invoice.id) == "paid"

    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.PAID and invoice.paid_at is not None
    remote = stripe_client().v1.invoices.retrieve(invoice.stripe_invoice_id)
    assert (remote.status, remote.amount_paid, remote.currency) == ("paid", 3900 + 800 + 122, "usd")
    assert remote.customer == account.stripe_customer_id
    assert remote.metadata["seatmeter_invoice"] == str(invoice.id)
    assert sorted(line.description for line in remote.lines.data) == sorted(
        line.description for line in invoice.lines
    )
    # Pushing again (a duplicate task, the sweep) does nothing.
    assert push_invoice_now(invoice.id) == "nothing to do"
    assert push_sweep() == {"queued": 0}


def test_a_push_that_stopped_half_way_resumes_without_billing_a_line_twice(acme, month, travel):
    add_card(acme)
    invoice = finalized_october(month, travel)
    api = stripe_client()
    customer_id = ensure_client_customer(api, acme)
    first = invoice.lines[0]
    # The previous attempt created the first item, then the worker died.
    api.v1.invoice_items.create(
        params={
            "customer": customer_id,
            "amount": first.amount_minor,
            "currency": "usd",
            "description": first.description,
            "metadata": {"seatmeter_invoice": str(invoice.id), "seatmeter_line": str(first.id)},
        }
    )

    assert push_invoice_now(invoice.id) == "paid"

    remote = api.v1.invoices.retrieve(invoice.stripe_invoice_id)
    assert len(remote.lines.data) == len(invoice.lines) == 3
    assert remote.amount_paid == invoice.total_minor


def test_no_card_overdue_then_suspended_after_grace_then_resumed_when_paid(acme, month, travel, caplog):
    invoice = finalized_october(month, travel)

    with caplog.at_level("INFO", logger="seatmeter.mail"):
        outcome = push_invoice_now(invoice.id)

    assert outcome.startswith("payment failed")
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.OVERDUE
    assert "To: billing@acme.example" in caplog.text
    assert f"Payment failed for invoice {invoice.number}" in caplog.text

    # Within the grace period (14 days by default) nothing happens; after it, and after the last
    # retry (days 3, 5 and 7), seats are suspended.
    travel("2026-11-10T12:00:00Z")
    assert enforce_dunning() == {"suspended": 0}
    assert retry_due_payments() == ["payment failed: there is no card on file to charge"]
    travel("2026-11-20T12:00:00Z")
    assert enforce_dunning() == {"suspended": 1}
    db.session.refresh(acme)
    assert acme.status is ClientStatus.SUSPENDED
    assert enforce_dunning() == {"suspended": 0}  # once

    # The client adds a card; the overdue invoice is collected and the client resumed.
    add_card(acme)
    assert push_invoice_now(invoice.id) == "paid"
    db.session.refresh(acme)
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.PAID
    assert acme.status is ClientStatus.ACTIVE
    account = db.session.scalars(select(BillingAccount)).one()
    assert account.suspended_for_nonpayment_at is None


def test_a_card_that_fails_to_charge_makes_the_invoice_overdue(acme, month, travel, caplog):
    add_card(acme, "pm_card_chargeCustomerFail")
    invoice = finalized_october(month, travel)

    with caplog.at_level("INFO", logger="seatmeter.mail"):
        # localstripe answers "pay" with an open invoice (real Stripe: a CardError, see below).
        assert push_invoice_now(invoice.id) == "payment failed: the payment was not completed"

    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.OVERDUE and invoice.payment_attempts == 1
    assert "We could not collect $48.22 for your October 2026 invoice" in caplog.text
    audited = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "invoice.payment_failed")
    ).one()
    assert audited.details["stripe_message"] == "Stripe invoice status after paying: open"


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (
            stripe.CardError("Your card has insufficient funds.", None, "card_declined"),
            "your card was declined",
        ),
        (
            stripe.CardError("Your card was declined.", None, "card_declined", json_body={}),
            "your card was declined",
        ),
        (stripe.CardError("Your card has expired.", None, "expired_card"), "your card has expired"),
        (
            stripe.InvalidRequestError("Cannot charge a customer that has no active card", None),
            "there is no card on file to charge",
        ),
        (stripe.APIError("Something went wrong on Stripe's end."), "the payment did not go through"),
    ],
)
def test_clients_read_plain_words_never_stripes_text(error, words):
    assert plain_reason(error) == words


def test_a_decline_code_is_worded_too():
    body = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
        }
    }
    error = stripe.CardError("Your card has insufficient funds.", None, "card_declined", json_body=body)

    assert plain_reason(error) == "your card was declined for insufficient funds"


def test_a_declined_card_is_refused_when_it_is_added(acme):
    with pytest.raises(stripe.CardError):
        add_card(acme, "pm_card_visa_chargeDeclined")
    db.session.rollback()


def test_someone_elses_setup_intent_is_not_found(acme, make_client):
    other = make_client("bright")
    api = stripe_client()
    ensure_client_customer(api, acme)
    other_customer = ensure_client_customer(api, other)
    db.session.commit()
    intent = api.v1.setup_intents.create(params={"customer": other_customer})
    api.v1.setup_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})

    with pytest.raises(NotFound):
        adopt_card(TESTS, acme, setup_intent_id=intent.id)
    db.session.rollback()


def test_finalize_enqueues_the_push_only_after_its_commit(app, acme, month, travel, monkeypatch):
    queued: list[int] = []
    # Jobs go through the app's own Celery app (portal.celery_app.enqueue_after_commit); the e-mail
    # notice of the same change is tested in tests/portal/notices.
    monkeypatch.setattr(
        app.extensions["celery"],
        "send_task",
        lambda name, args, **kw: queued.extend(args) if name != "notices.send" else None,
    )
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    finalize_period(TESTS, parse_period("2026-10"), billing_timezone(), utcnow())
    assert queued == []  # not before the commit
    db.session.commit()

    invoice = db.session.scalars(select(Invoice)).one()
    assert queued == [invoice.id]
