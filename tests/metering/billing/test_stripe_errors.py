"""Fault: Stripe (localstripe, in its own process) answers 500s in the middle of a push, then
recovers. The push gives up its claim and is retried; in the end Stripe's invoice has every line
once, is paid once for the invoice's total, and the ledger holds exactly that one payment."""

from __future__ import annotations

import pytest
import stripe
from sqlalchemy import select

from metering.billing.models import Invoice, InvoiceStatus
from metering.billing.stripe_push import stripe_client
from metering.billing.tasks import push_invoice_now
from metering.credits.models import Payment
from portal.db import db
from tests.metering.billing.test_stripe import add_card, finalized_october
from tests.standins.stripe import fail_requests

pytestmark = pytest.mark.faults


# Pushing this invoice takes seven API requests: the fault strikes each one in turn.
@pytest.mark.parametrize("after", range(7))
def test_a_push_through_stripe_500s_ends_paid_once_with_every_line_once(
    acme, month, travel, stripe_app, after
):
    account = add_card(acme)
    invoice = finalized_october(month, travel)
    # Three failures in a row outlast the client's own two retries: the push itself fails.
    fail_requests(stripe_app, fail=3, after=after)

    outcomes: list[str] = []
    for _attempt in range(3):
        try:
            outcomes.append(push_invoice_now(invoice.id))
        except stripe.APIError as error:
            outcomes.append(f"stripe error {error.http_status}")
        if outcomes[-1] == "paid":
            break

    assert outcomes[0] == "stripe error 500", "the fault struck the first push"
    assert outcomes[-1] == "paid", outcomes
    assert push_invoice_now(invoice.id) == "nothing to do"
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.PAID
    api = stripe_client()
    remote_invoices = api.v1.invoices.list(params={"customer": account.stripe_customer_id}).data
    assert [remote.id for remote in remote_invoices] == [invoice.stripe_invoice_id], "one invoice on Stripe"
    remote = remote_invoices[0]
    assert (remote.status, remote.amount_paid) == ("paid", invoice.total_minor)
    assert sorted(line.description for line in remote.lines.data) == sorted(
        line.description for line in invoice.lines
    )
    payments = db.session.scalars(select(Payment).where(Payment.invoice_id == invoice.id)).all()
    assert [payment.amount_minor for payment in payments] == [invoice.total_minor]
    assert db.session.get(Invoice, invoice.id) is invoice
