"""A credit note against an open invoice Stripe already holds reaches Stripe as a Stripe credit note,
so the card is charged only the balance. Against the localstripe stand-in (sandbox/stripe_server.py),
whose /v1/credit_notes imitates Stripe's documented behaviour for open invoices."""

from __future__ import annotations

import pytest
import stripe
from sqlalchemy import select

from metering.billing.models import InvoiceStatus
from metering.billing.stripe_push import stripe_client
from metering.billing.tasks import push_invoice_now
from metering.credits.services import issue_credit_note
from metering.credits.tasks import send_credit_note_to_stripe_now
from portal.audit.models import AuditEvent
from portal.db import db, utcnow
from tests.metering.billing.test_stripe import acme, add_card, finalized_october, stripe_app
from tests.metering.months import TESTS

__all__ = ["acme", "stripe_app"]  # fixtures shared with the Stripe billing tests


def test_a_credit_on_an_unpaid_stripe_invoice_lowers_what_stripe_charges(acme, month, travel):
    add_card(acme, "pm_card_chargeCustomerFail")
    invoice = finalized_october(month, travel)
    assert push_invoice_now(invoice.id).startswith("payment failed")
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.OVERDUE and invoice.stripe_invoice_id
    total = invoice.total_minor

    note = issue_credit_note(TESTS, invoice, "Desktop down for two days", utcnow(), amount_minor=1000)
    db.session.commit()
    assert send_credit_note_to_stripe_now(note.id) == "sent"
    assert send_credit_note_to_stripe_now(note.id) == "nothing to do"  # once

    db.session.refresh(note)
    api = stripe_client()
    remote = api.v1.invoices.retrieve(invoice.stripe_invoice_id)
    assert (remote.total, remote.amount_due) == (total, total - 1000)
    audited = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "credit_note.sent_to_stripe")
    ).one()
    assert audited.details["stripe_credit_note_id"] == note.stripe_credit_note_id

    # The client adds a working card: Stripe charges the balance, not the total.
    add_card(acme)
    assert push_invoice_now(invoice.id) == "paid"
    remote = api.v1.invoices.retrieve(invoice.stripe_invoice_id)
    intent = api.v1.payment_intents.retrieve(str(remote.to_dict()["payment_intent"]))
    assert intent.amount == total - 1000
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.PAID


def test_the_stand_in_refuses_a_credit_note_larger_than_what_is_due(acme, month, travel):
    add_card(acme, "pm_card_chargeCustomerFail")
    invoice = finalized_october(month, travel)
    push_invoice_now(invoice.id)
    db.session.refresh(invoice)
    assert invoice.stripe_invoice_id is not None

    with pytest.raises(stripe.InvalidRequestError, match="exceeds"):
        stripe_client().v1.credit_notes.create(
            params={"invoice": invoice.stripe_invoice_id, "amount": invoice.total_minor + 1}
        )


def test_a_credit_on_an_invoice_stripe_never_had_is_not_sent(app, month, make_client, travel):
    make_client("acme", "Acme Law LLP")
    invoice = finalized_october(month, travel)
    assert invoice.stripe_invoice_id is None

    note = issue_credit_note(TESTS, invoice, "Goodwill", utcnow(), amount_minor=500)
    db.session.commit()

    assert send_credit_note_to_stripe_now(note.id) == "nothing to do"
