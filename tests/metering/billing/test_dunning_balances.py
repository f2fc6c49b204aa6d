"""Dunning works on what is still owed: the e-mail and the suspension name the balance, and paying
the rest by transfer ends the suspension."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from metering.billing.dunning import mark_payment_failed, suspend_for_nonpayment
from metering.billing.models import Invoice, InvoiceStatus
from metering.credits.models import PaymentMethod
from metering.credits.payments import record_payment
from portal.accounts.models import ClientStatus
from portal.audit.models import AuditEvent
from portal.db import db, utcnow
from tests.metering.months import TESTS, event


def test_a_part_paid_overdue_invoice_is_dunned_for_its_balance(app, month, make_client, travel, caplog):
    # No card retries: suspension follows the grace period directly (retries: test_dunning.py).
    app.config["BILLING_RETRY_DAYS"] = []
    acme = make_client("acme", "Acme Law LLP")
    acme.billing_email = "billing@acme.example"
    db.session.commit()
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    invoice = db.session.scalars(select(Invoice)).one()
    record_payment(TESTS, invoice, 1000, PaymentMethod.TRANSFER, utcnow().date(), "SEPA 1", utcnow())
    db.session.commit()

    with caplog.at_level("INFO", logger="seatmeter.mail"):
        mark_payment_failed(TESTS, invoice, "the card was declined", utcnow())
        db.session.commit()

    assert "We could not collect $29.00 for your October 2026 invoice" in caplog.text
    travel("2026-11-30T12:00:00Z")
    assert suspend_for_nonpayment(acme.id, utcnow(), timedelta(days=14))
    db.session.commit()
    suspended = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "client.suspended")).one()
    assert "($29.00 due)" in str(suspended.details)

    record_payment(TESTS, invoice, 2900, PaymentMethod.TRANSFER, utcnow().date(), "SEPA 2", utcnow())
    db.session.commit()

    db.session.refresh(invoice)
    db.session.refresh(acme)
    assert invoice.status is InvoiceStatus.PAID
    assert acme.status is ClientStatus.ACTIVE
