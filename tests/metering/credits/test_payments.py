"""Payments: partial payments add up to paid; bad payments are refused and nothing is saved."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from metering.billing.dunning import mark_paid
from metering.billing.lifecycle import void
from metering.billing.models import Invoice, InvoiceStatus
from metering.credits.balances import invoice_balance
from metering.credits.models import CreditNote, Payment, PaymentMethod
from metering.credits.payments import record_payment
from metering.credits.services import issue_credit_note
from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.db import db, utcnow
from portal.errors import Conflict, InvalidInput
from tests.metering.months import TESTS, event


def _payments() -> int:
    return db.session.scalar(select(func.count()).select_from(Payment)) or 0


def test_partial_payments_add_up_and_the_invoice_becomes_paid(october):
    today = utcnow().date()
    record_payment(TESTS, october, 1000, PaymentMethod.TRANSFER, today, "SEPA 123", utcnow())
    db.session.commit()
    assert october.status is InvoiceStatus.FINALIZED
    assert invoice_balance(october).balance_minor == 2900

    record_payment(TESTS, october, 2900, PaymentMethod.CHEQUE, today, "Cheque 000451", utcnow())
    db.session.commit()

    assert october.status is InvoiceStatus.PAID
    balance = invoice_balance(october)
    assert (balance.paid_minor, balance.balance_minor) == (3900, 0)
    recorded = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "payment.recorded")).all()
    assert [(e.details["amount_minor"], e.details["balance_minor"]) for e in recorded] == [
        (1000, 2900),
        (2900, 0),
    ]


def test_a_credit_note_and_a_payment_together_settle_the_invoice(october):
    issue_credit_note(TESTS, october, "Outage", utcnow(), amount_minor=900)
    record_payment(TESTS, october, 3000, PaymentMethod.TRANSFER, utcnow().date(), "", utcnow())
    db.session.commit()
    assert october.status is InvoiceStatus.PAID


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "A payment must be for more than zero."),
        (-500, "A payment must be for more than zero."),
        (3901, r"\$39.01 is more than the \$39.00 still owed"),
    ],
)
def test_bad_amounts_are_refused_and_nothing_is_saved(october, amount, message):
    with pytest.raises(InvalidInput, match=message):
        record_payment(TESTS, october, amount, PaymentMethod.TRANSFER, utcnow().date(), "", utcnow())
    db.session.rollback()
    assert _payments() == 0


def test_a_payment_dated_in_the_future_is_refused(october):
    tomorrow = utcnow().date() + timedelta(days=1)
    with pytest.raises(InvalidInput, match="in the future"):
        record_payment(TESTS, october, 100, PaymentMethod.TRANSFER, tomorrow, "", utcnow())


def test_a_draft_cannot_be_paid_nor_a_paid_invoice_paid_again(month, acme, travel):
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    draft = db.session.scalars(select(Invoice)).one()

    with pytest.raises(Conflict, match="is a draft: it can be paid once it is approved"):
        record_payment(TESTS, draft, 100, PaymentMethod.TRANSFER, date(2026, 11, 1), "", utcnow())
    db.session.rollback()
    assert _payments() == 0

    month.finalize("2026-10")
    db.session.expire_all()
    invoice = db.session.scalars(select(Invoice)).one()
    record_payment(TESTS, invoice, 3900, PaymentMethod.TRANSFER, date(2026, 11, 1), "", utcnow())
    db.session.commit()
    with pytest.raises(Conflict, match="is paid already"):
        record_payment(TESTS, invoice, 100, PaymentMethod.TRANSFER, date(2026, 11, 1), "", utcnow())


def test_stripe_collecting_the_invoice_records_what_was_still_owed(october):
    record_payment(TESTS, october, 1000, PaymentMethod.TRANSFER, utcnow().date(), "SEPA 9", utcnow())
    october.stripe_invoice_id = "in_test_1"
    db.session.commit()

    assert mark_paid(Actor.system("Stripe webhook"), october, utcnow())
    db.session.commit()

    stripe = db.session.scalars(select(Payment).where(Payment.method == PaymentMethod.STRIPE)).one()
    assert (stripe.amount_minor, stripe.reference) == (2900, "in_test_1")
    assert october.status is InvoiceStatus.PAID
    assert invoice_balance(october).balance_minor == 0
    # A second report of the same payment records nothing more.
    assert not mark_paid(Actor.system("Stripe webhook"), october, utcnow())
    assert _payments() == 2


def test_a_void_invoice_can_be_neither_paid_nor_credited(october):
    void(october, utcnow())
    db.session.commit()

    with pytest.raises(Conflict, match="is void: nothing is owed"):
        record_payment(TESTS, october, 100, PaymentMethod.TRANSFER, date(2026, 11, 3), "SEPA", utcnow())
    db.session.rollback()
    with pytest.raises(Conflict, match="is void"):
        issue_credit_note(TESTS, october, "goodwill", utcnow(), amount_minor=100)
    db.session.rollback()

    assert _payments() == 0
    assert db.session.scalars(select(CreditNote)).first() is None
