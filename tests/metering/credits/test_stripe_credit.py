"""Carried credit reaches Stripe (localstripe here): the card is charged what is left, not the total."""

from __future__ import annotations

import pytest
import stripe
from sqlalchemy import select

from metering.billing.cards import adopt_card
from metering.billing.models import Invoice, InvoiceStatus
from metering.billing.stripe_push import ensure_client_customer, stripe_client
from metering.billing.tasks import push_invoice_now
from metering.credits.models import CreditNote, CreditNoteStatus, Payment, PaymentMethod, Settlement
from metering.credits.services import issue_credit_note
from metering.credits.stripe_refunds import refund_with_stripe_credit_note, refunds_by_stripe_credit_note
from metering.credits.tasks import refund_credit_note_now
from portal.audit.models import AuditEvent
from portal.db import db, utcnow
from tests.metering.months import TESTS, event


@pytest.fixture
def stripe_acme(app, stripe_env, make_client):
    app.config.update(STRIPE_API_KEY=stripe_env.api_key, STRIPE_API_BASE=stripe_env.api_base)
    client = make_client("acme", "Acme Law LLP")
    api = stripe_client()
    customer_id = ensure_client_customer(api, client)
    db.session.commit()
    intent = api.v1.setup_intents.create(params={"customer": customer_id, "payment_method_types": ["card"]})
    api.v1.setup_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    adopt_card(TESTS, client, setup_intent_id=intent.id)
    db.session.commit()
    return client


@pytest.fixture
def paid_october(stripe_acme, month, travel) -> Invoice:
    """Acme's October (one desktop, 39.00) finalized on Nov 2 and paid by card through Stripe."""
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    october = month.invoice_row(stripe_acme.id, "2026-10")
    assert push_invoice_now(october.id) == "paid"
    db.session.expire_all()
    october = month.invoice_row(stripe_acme.id, "2026-10")
    return october


def test_a_month_credit_is_taken_off_what_stripe_charges_next(stripe_acme, month, travel):
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-09-20T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    october = month.invoice_row(stripe_acme.id, "2026-10")
    assert push_invoice_now(october.id) == "paid"
    # Alice's desktop was gone on Sep 28, reported late: November nets -39.00, a credit note.
    month.events(event("e2", "acme", "alice@acme.example", "desktop", "stop", "2026-09-28T09:00:00Z"))
    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")
    month.finalize("2026-11")
    note = db.session.scalars(select(CreditNote)).one()
    assert (note.amount_minor, note.status) == (3900, CreditNoteStatus.OPEN)

    month.events(
        event("e3", "acme", "bob@acme.example", "desktop", "start", "2026-12-03T09:00:00Z"),
        event("e4", "acme", "bob@acme.example", "exchange", "start", "2026-12-03T09:00:00Z"),
    )
    travel("2027-01-02T12:00:00Z")
    month.close("2026-12")
    month.finalize("2026-12")
    december = month.invoice_row(stripe_acme.id, "2026-12")

    assert push_invoice_now(december.id) == "paid"

    db.session.expire_all()
    remote = stripe_client().v1.invoices.retrieve(december.stripe_invoice_id)
    assert (remote.total, remote.amount_paid) == (800, 800)
    assert "Credit from credit note CN-0001" in [line.description for line in remote.lines.data]
    payment = db.session.scalars(select(Payment).where(Payment.invoice_id == december.id)).one()
    assert (payment.method, payment.amount_minor) == (PaymentMethod.STRIPE, 800)
    assert month.invoice_row(stripe_acme.id, "2026-12").status is InvoiceStatus.PAID
    assert db.session.get(CreditNote, note.id).status is CreditNoteStatus.SETTLED


def test_a_credit_on_an_invoice_paid_by_card_is_refunded_through_stripe(paid_october):

    note = issue_credit_note(
        TESTS,
        paid_october,
        "Desktop down for a week",
        utcnow(),
        amount_minor=1000,
        settlement=Settlement.REFUND_STRIPE,
    )
    db.session.commit()
    assert (note.refund_minor, note.status) == (1000, CreditNoteStatus.REFUND_DUE)

    assert refund_credit_note_now(note.id) == "refunded"

    db.session.expire_all()
    note = db.session.get(CreditNote, note.id)
    assert note.status is CreditNoteStatus.SETTLED and note.stripe_refund_id and note.stripe_credit_note_id
    refund = stripe_client().v1.refunds.retrieve(note.stripe_refund_id)
    assert (refund.amount, refund.status) == (1000, "succeeded")
    # Stripe's paid invoice carries a credit note that made the refund, not a bare refund.
    remote = stripe_client().v1.credit_notes.retrieve(note.stripe_credit_note_id)
    assert (remote.invoice, remote.type, remote.amount, remote.post_payment_amount) == (
        paid_october.stripe_invoice_id,
        "post_payment",
        1000,
        1000,
    )
    assert [(entry.refund, entry.amount_refunded) for entry in remote.refunds] == [
        (note.stripe_refund_id, 1000)
    ]
    assert remote.metadata["seatmeter_credit_note"] == "CN-0001"
    audited = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "credit_note.refunded")).all()
    assert [event.details["stripe_credit_note_id"] for event in audited] == [note.stripe_credit_note_id]
    # Running the task again (a redelivered message) refunds nothing more.
    assert refund_credit_note_now(note.id) == "nothing to do"


def test_a_repeated_stripe_credit_note_refunds_once(paid_october):
    note = issue_credit_note(
        TESTS, paid_october, "Outage", utcnow(), amount_minor=3900, settlement=Settlement.REFUND_STRIPE
    )
    db.session.commit()
    assert refunds_by_stripe_credit_note(note)

    # A worker that dies after Stripe answered and before the commit sends the same request again.
    first = refund_with_stripe_credit_note(stripe_client(), note)
    second = refund_with_stripe_credit_note(stripe_client(), note)

    assert first == second
    refund = stripe_client().v1.refunds.retrieve(first.refund_id)
    refunds = stripe_client().v1.refunds.list(params={"payment_intent": refund.payment_intent})
    assert [refund.amount for refund in refunds.data] == [3900]


def test_stripe_refuses_a_credit_note_larger_than_what_was_paid(paid_october):

    with pytest.raises(stripe.InvalidRequestError, match="exceeds the amount paid"):
        stripe_client().v1.credit_notes.create(
            params={"invoice": paid_october.stripe_invoice_id, "amount": 3901, "refund_amount": 3901}
        )
    with pytest.raises(stripe.InvalidRequestError, match="must equal the credit note's total"):
        stripe_client().v1.credit_notes.create(
            params={"invoice": paid_october.stripe_invoice_id, "amount": 1000, "refund_amount": 900}
        )
