"""Fault: Stripe delivers the same events five times each and out of order (a payment failure that
happened before the payment arrives after it). Each event is applied once; the invoice ends paid,
with one payment of its total in the ledger and no dunning left behind."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from metering.billing.models import Invoice, InvoiceStatus, StripeEvent
from metering.credits.models import Payment
from portal.audit.models import AuditEvent
from portal.db import db
from tests.metering.webhooks.test_views import invoice_event, post

pytestmark = pytest.mark.faults


def test_the_same_events_five_times_and_out_of_order_pay_the_invoice_once(client, sent_invoice, caplog):
    paid = invoice_event("evt_paid", "invoice.paid", "in_test_1")
    # Stripe's earlier failed attempt, delivered late: after the payment that followed it.
    failed = invoice_event("evt_failed", "invoice.payment_failed", "in_test_1")
    deliveries = [paid, *random.Random(17).sample([paid] * 4 + [failed] * 5, 9)]

    with caplog.at_level("INFO", logger="seatmeter.mail"):
        results = [post(client, delivery) for delivery in deliveries]

    assert [response.status_code for response in results] == [200] * 10
    outcomes = [response.get_json()["result"] for response in results]
    assert outcomes[0] == "paid"
    assert outcomes.count("duplicate") == 8, outcomes
    assert outcomes.count("unchanged") == 1, "the late failure changes nothing once paid"
    invoice = db.session.get(Invoice, sent_invoice.id)
    assert invoice is not None
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.PAID
    assert invoice.overdue_since is None and invoice.next_payment_retry_at is None
    payments = db.session.scalars(select(Payment).where(Payment.invoice_id == invoice.id)).all()
    assert [payment.amount_minor for payment in payments] == [invoice.total_minor]
    assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 2
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("invoice.%"))).all()
    assert actions.count("invoice.paid") == 1
    assert "invoice.payment_failed" not in actions
    assert "Payment failed" not in caplog.text, "the client is not told of a failure after paying"
