"""Carried credit reaches Stripe (localstripe here): the card is charged what is left, not the total."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from metering.billing.cards import adopt_card
from metering.billing.models import InvoiceStatus
from metering.billing.stripe_push import ensure_client_customer, stripe_client
from metering.billing.tasks import push_invoice_now
from metering.credits.models import CreditNote, CreditNoteStatus, Payment, PaymentMethod, Settlement
from metering.credits.services import issue_credit_note
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


def test_a_credit_on_an_invoice_paid_by_card_is_refunded_through_stripe(stripe_acme, month, travel):
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    october = month.invoice_row(stripe_acme.id, "2026-10")
    assert push_invoice_now(october.id) == "paid"
    db.session.expire_all()
    october = month.invoice_row(stripe_acme.id, "2026-10")

    note = issue_credit_note(
        TESTS,
        october,
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
    assert note.status is CreditNoteStatus.SETTLED and note.stripe_refund_id
    refund = stripe_client().v1.refunds.retrieve(note.stripe_refund_id)
    assert (refund.amount, refund.status, refund.metadata["seatmeter_credit_note"]) == (
        1000,
        "succeeded",
        "CN-0001",
    )
    assert db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "credit_note.refunded")
    ).all() == ["credit_note.refunded"]
    # Running the task again (a redelivered message) refunds nothing more.
    assert refund_credit_note_now(note.id) == "nothing to do"
