"""A failed payment is retried on days 3, 5 and 7 after the first failure (BILLING_RETRY_DAYS), by the
beat sweep; the client reads plain words, the reseller's audit log keeps Stripe's own text; dunning
suspends only after the last retry and the grace period."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from metering.billing.models import Invoice, InvoiceStatus
from metering.billing.stripe_push import Collection, apply_collection
from metering.billing.tasks import enforce_dunning, push_invoice_now
from portal.accounts.models import ClientStatus
from portal.audit.models import AuditEvent
from portal.db import db, utcnow
from tests.metering.billing.test_stripe import add_card, finalized_october, retry_due_payments

NO_CARD = "payment failed: there is no card on file to charge"


def failures_audited(invoice: Invoice) -> list[dict]:
    return [
        event.details
        for event in db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "invoice.payment_failed", AuditEvent.object_id == str(invoice.id)
            )
        )
    ]


def test_retried_on_days_3_5_7_then_suspended_after_the_grace_period(acme, month, travel, caplog):
    invoice = finalized_october(month, travel)  # issued 2 November, 12:00
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        assert push_invoice_now(invoice.id) == NO_CARD
    db.session.refresh(invoice)
    first_failure = invoice.overdue_since
    assert invoice.next_payment_retry_at == first_failure + timedelta(days=3)

    travel("2026-11-05T11:00:00Z")
    assert retry_due_payments() == []
    retried_at = []
    for day in ("2026-11-05", "2026-11-07", "2026-11-09"):
        travel(f"{day}T13:00:00Z")
        assert retry_due_payments() == [NO_CARD]
        db.session.refresh(invoice)
        retried_at.append(invoice.next_payment_retry_at)
    assert retried_at == [first_failure + timedelta(days=5), first_failure + timedelta(days=7), None]
    assert invoice.payment_attempts == 4
    travel("2026-11-12T13:00:00Z")
    assert retry_due_payments() == []

    travel("2026-11-16T11:00:00Z")  # the grace period (14 days) is not over
    assert enforce_dunning() == {"suspended": 0}
    travel("2026-11-16T13:00:00Z")
    assert enforce_dunning() == {"suspended": 1}
    db.session.refresh(acme)
    assert acme.status is ClientStatus.SUSPENDED

    # One e-mail, at the first failure, in plain words with the next try; Stripe's text stays out.
    assert caplog.text.count("Subject: Payment failed") == 1
    assert "there is no card on file to charge" in caplog.text
    assert "We will try to charge your card again on 05 November 2026" in caplog.text
    audited = failures_audited(invoice)
    assert len(audited) == 4
    stripe_text = audited[0]["stripe_message"]
    assert stripe_text and stripe_text not in caplog.text
    db.session.refresh(invoice)
    assert invoice.payment_error == "there is no card on file to charge"


def test_a_card_added_between_retries_is_charged_at_the_next_retry(acme, month, travel):
    invoice = finalized_october(month, travel)
    assert push_invoice_now(invoice.id) == NO_CARD
    travel("2026-11-04T12:00:00Z")
    add_card(acme)  # adding a card queues the unpaid invoice; here the sweep's retry collects it

    travel("2026-11-05T13:00:00Z")
    assert retry_due_payments() == ["paid"]

    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.PAID and invoice.next_payment_retry_at is None


def test_without_retries_dunning_follows_the_first_failure(app, acme, month, travel):
    app.config["BILLING_RETRY_DAYS"] = []
    invoice = finalized_october(month, travel)
    assert push_invoice_now(invoice.id) == NO_CARD
    db.session.refresh(invoice)
    assert invoice.next_payment_retry_at is None

    travel("2026-11-17T12:00:00Z")
    assert retry_due_payments() == []
    assert enforce_dunning() == {"suspended": 1}


def test_when_the_bank_asks_to_authenticate_the_push_sends_the_client_to_stripes_page(
    acme, month, travel, caplog
):
    """Real Stripe refuses ``pay`` with ``invoice_payment_intent_requires_action`` (localstripe never
    asks); the push turns that answer into this outcome."""
    invoice = finalized_october(month, travel)
    link = "https://invoice.stripe.com/i/acct_1/test_sca"
    outcome = Collection(
        paid=False,
        reason="your card was declined",
        stripe_message="invoice_payment_intent_requires_action: This payment requires additional user action",
        needs_authentication=True,
        hosted_invoice_url=link,
    )

    with caplog.at_level("INFO", logger="seatmeter.mail"):
        apply_collection(invoice, outcome, utcnow())
        db.session.commit()

    assert invoice.status is InvoiceStatus.NEEDS_AUTHENTICATION
    assert invoice.next_payment_retry_at is None  # charging again would be asked again
    assert "To: billing@acme.example" in caplog.text and link in caplog.text
    assert "additional user action" not in caplog.text
