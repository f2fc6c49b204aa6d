"""Sending a finalized invoice to Stripe, step by step, each step safe to repeat.

Steps (the task commits after each, so a retry resumes where the last attempt stopped):

1. the client's Customer (created once, id kept in ``billing_accounts``);
2. one InvoiceItem per line: integer ``amount`` in minor units, the line's description, and metadata
   naming our invoice and line; items already pending for this invoice are not created again;
3. an Invoice with ``pending_invoice_items_behavior=include`` (it gathers the items); its total must
   equal ours, or nothing is charged;
4. "pay": Stripe finalizes the draft and charges the default payment method.

Every call carries an idempotency key derived from the invoice id and the step, so a retried call
within Stripe's 24 hours returns the first result instead of charging twice. Only these calls are
used because both real Stripe and localstripe accept them (see the README).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import stripe
from flask import current_app
from sqlalchemy import or_, select, update

from metering.billing.dunning import billing_account, mark_paid, mark_payment_failed
from metering.billing.models import Invoice, InvoiceLine, InvoiceStatus
from metering.periods import BillingPeriod
from metering.tax.models import PPM_PER_PERCENT, TaxRate
from portal.accounts.models import Client
from portal.audit.services import Actor
from portal.db import db

STRIPE_ACTOR = Actor.system("billing (Stripe)")
PUSH_LEASE = timedelta(minutes=5)


class StripeNotConfigured(RuntimeError):
    """STRIPE_API_KEY is not set."""


class StripeMismatch(RuntimeError):
    """Stripe's invoice does not add up to ours (stray pending items on the customer)."""


def stripe_client() -> stripe.StripeClient:
    key = current_app.config.get("STRIPE_API_KEY")
    if not key:
        raise StripeNotConfigured("STRIPE_API_KEY is not set")
    base = current_app.config.get("STRIPE_API_BASE")
    options: dict[str, Any] = {"max_network_retries": 2}
    if base:
        options["base_addresses"] = {"api": base}
    return stripe.StripeClient(key, **options)


def idempotency_key(invoice: Invoice, step: str) -> str:
    return f"seatmeter-invoice-{invoice.id}-{step}"


def claim_push(invoice_id: int, now: datetime) -> Invoice | None:
    """Take a short lease on the invoice so that two workers never push it at the same time."""
    result = db.session.execute(
        update(Invoice)
        .where(
            Invoice.id == invoice_id,
            Invoice.status.in_([InvoiceStatus.FINALIZED, InvoiceStatus.OVERDUE]),
            or_(Invoice.push_lease_until.is_(None), Invoice.push_lease_until < now),
        )
        .values(push_lease_until=now + PUSH_LEASE)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    invoice = db.session.get(Invoice, invoice_id, populate_existing=True)
    return invoice


def release_push(invoice: Invoice) -> None:
    invoice.push_lease_until = None
    db.session.flush()


def ensure_client_customer(client_api: stripe.StripeClient, client: Client) -> str:
    """The client's Stripe Customer id, created on first use (keyed by client, shared by its invoices)."""
    account = billing_account(client.id)
    if account.stripe_customer_id:
        return account.stripe_customer_id
    params: dict[str, Any] = {"name": client.name, "metadata": {"seatmeter_client": client.ref}}
    if client.billing_email:
        params["email"] = client.billing_email
    customer = client_api.v1.customers.create(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": f"seatmeter-client-{client.id}-customer"},
    )
    account.stripe_customer_id = customer.id
    db.session.flush()
    return customer.id


def line_tax_rates(client_api: stripe.StripeClient, line: InvoiceLine) -> list[str]:
    """The Stripe TaxRate ids for the line's tax (none when untaxed), each created once per rate.

    Stripe computes the tax itself from these, per line, so its total matches ours only while both
    round the same way (half up per line; see docs/invoices.md for what was checked where).
    """
    if line.tax_rate_id is None:
        return []
    rate = db.session.get(TaxRate, line.tax_rate_id)
    if rate is None:
        return []
    if rate.stripe_tax_rate_id is None:
        created = client_api.v1.tax_rates.create(
            params={
                "display_name": rate.name,
                # Stripe takes a decimal percentage; four decimals are exact in a float's 15 digits.
                "percentage": rate.rate_ppm / PPM_PER_PERCENT,
                "inclusive": rate.inclusive,
                "jurisdiction": rate.jurisdiction,
                "metadata": {"seatmeter_tax_rate": str(rate.id)},
            },
            options={"idempotency_key": f"seatmeter-tax-rate-{rate.id}"},
        )
        rate.stripe_tax_rate_id = created.id
        db.session.flush()
    return [rate.stripe_tax_rate_id]


def remember_hosted_page(invoice: Invoice, remote: Any) -> None:
    """Keep Stripe's page where the client pays the invoice (the billing page's "Pay now")."""
    url = getattr(remote, "hosted_invoice_url", None)
    if url and url != invoice.hosted_invoice_url:
        invoice.hosted_invoice_url = url
        db.session.flush()


def _pending_items_of(client_api: stripe.StripeClient, customer_id: str, invoice: Invoice) -> set[str]:
    """Lines of ours already pending on the customer (an earlier attempt stopped half-way)."""
    items = client_api.v1.invoice_items.list(params={"customer": customer_id, "limit": 100})
    found = set()
    for item in items.data:
        metadata = item.metadata.to_dict() if item.metadata is not None else {}
        if getattr(item, "invoice", None) is None and metadata.get("seatmeter_invoice") == str(invoice.id):
            found.add(str(metadata.get("seatmeter_line", "")))
    return found


def create_stripe_invoice(client_api: stripe.StripeClient, invoice: Invoice, customer_id: str) -> str:
    """Steps 2 and 3: the items, then the Stripe invoice that gathers them. Returns its id."""
    already = _pending_items_of(client_api, customer_id, invoice)
    for line in invoice.lines:
        if str(line.id) in already:
            continue
        client_api.v1.invoice_items.create(
            params={
                "customer": customer_id,
                "amount": line.amount_minor,
                "currency": line.currency.lower(),
                "description": line.description,
                # An empty list is sent as nothing at all: an untaxed line stays untaxed.
                "tax_rates": line_tax_rates(client_api, line),
                "metadata": {"seatmeter_invoice": str(invoice.id), "seatmeter_line": str(line.id)},
            },
            options={"idempotency_key": idempotency_key(invoice, f"line-{line.id}")},
        )
    month = BillingPeriod.parse(invoice.period).label
    created = client_api.v1.invoices.create(
        params={
            "customer": customer_id,
            "pending_invoice_items_behavior": "include",
            "description": f"{month} — invoice {invoice.number}",
            "metadata": {"seatmeter_invoice": str(invoice.id)},
        },
        options={"idempotency_key": idempotency_key(invoice, "create")},
    )
    invoice.stripe_invoice_id = created.id
    db.session.flush()
    remember_hosted_page(invoice, created)
    return created.id


@dataclass(frozen=True)
class Collection:
    paid: bool
    reason: str | None = None


def collect(client_api: stripe.StripeClient, invoice: Invoice) -> Collection:
    """Step 4: ask Stripe to charge the invoice (or notice it is already paid)."""
    assert invoice.stripe_invoice_id is not None
    remote = client_api.v1.invoices.retrieve(invoice.stripe_invoice_id)
    remember_hosted_page(invoice, remote)
    if remote.status == "paid":
        return Collection(paid=True)
    if remote.total != invoice.total_minor:
        raise StripeMismatch(
            f"Stripe invoice {remote.id} totals {remote.total}, ours {invoice.total_minor}: not charged"
        )
    try:
        result = client_api.v1.invoices.pay(
            invoice.stripe_invoice_id,
            options={"idempotency_key": idempotency_key(invoice, f"pay-{invoice.payment_attempts}")},
        )
    except stripe.CardError as error:
        return Collection(paid=False, reason=error.user_message or "the card was declined")
    except stripe.InvalidRequestError as error:
        # e.g. no payment method on file: a payment failure the client can fix, not a bug.
        return Collection(paid=False, reason=error.user_message or str(error))
    remember_hosted_page(invoice, result)
    if result.status == "paid":
        return Collection(paid=True)
    return Collection(paid=False, reason="the payment was not completed (the bank may ask to confirm it)")


def apply_collection(invoice: Invoice, outcome: Collection, now: datetime) -> None:
    if outcome.paid:
        mark_paid(STRIPE_ACTOR, invoice, now)
    else:
        mark_payment_failed(STRIPE_ACTOR, invoice, outcome.reason or "payment failed", now)


def invoices_to_push(now: datetime, older_than: timedelta) -> list[int]:
    """Finalized invoices that should be in Stripe by now and are not being pushed: the sweep's list."""
    return list(
        db.session.scalars(
            select(Invoice.id)
            .where(
                Invoice.status == InvoiceStatus.FINALIZED,
                Invoice.payment_error.is_(None),
                Invoice.finalized_at <= now - older_than,
                or_(Invoice.push_lease_until.is_(None), Invoice.push_lease_until < now),
            )
            .order_by(Invoice.id)
            .limit(1000)
        )
    )
