"""Sending a finalized invoice to Stripe, step by step, each step safe to repeat.

Steps (the task commits after each, so a retry resumes where the last attempt stopped):

1. the client's Customer (created once, id kept in ``billing_accounts``);
2. an empty draft Invoice in Stripe for our invoice (its id kept on our invoice);
3. one InvoiceItem per line, added to that Invoice by its id: integer ``amount`` in minor units, the
   line's description, and metadata naming our invoice and line; lines already on it are not added
   again. Items never wait "pending" on the Customer, where another invoice of the same client being
   pushed at the same time could sweep them up; credit carried from earlier credit notes and used
   on this invoice is one negative item each;
4. "pay": Stripe finalizes the draft and charges the default payment method, after checking that
   its total equals ours (or nothing is charged).

Every call carries an idempotency key derived from the invoice id and the step, so a retried call
within Stripe's 24 hours returns the first result instead of charging twice. The API version is
pinned (:data:`STRIPE_API_VERSION`); ``make lint`` type-checks every call's parameters against the
stripe library's own types for that version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import stripe
from flask import current_app
from sqlalchemy import and_, or_, select, update

from metering.billing.dunning import (
    billing_account,
    mark_needs_authentication,
    mark_paid,
    mark_payment_failed,
)
from metering.billing.models import Invoice, InvoiceLine, InvoiceStatus
from metering.credits.services import credit_applied_to
from metering.periods import BillingPeriod
from metering.tax.models import PPM_PER_PERCENT, TaxRate
from portal.accounts.models import Client
from portal.audit.services import Actor
from portal.db import db

if TYPE_CHECKING:
    from stripe.params import CustomerCreateParams

# The one place the Stripe API version is chosen: the version the installed stripe library (its major
# capped in pyproject.toml) is typed for. Objects, events and parameters are read in this version's
# shapes; the webhook endpoint in Stripe's dashboard must use it too (docs/stripe.md).
STRIPE_API_VERSION = "2026-10-28.endive"
stripe.api_version = STRIPE_API_VERSION

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
    return stripe.StripeClient(
        key,
        stripe_version=STRIPE_API_VERSION,
        max_network_retries=2,
        base_addresses={"api": base} if base else None,
    )


def idempotency_key(invoice: Invoice, step: str) -> str:
    return f"seatmeter-invoice-{invoice.id}-{step}"


def claim_push(invoice_id: int, now: datetime) -> Invoice | None:
    """Take a short lease on the invoice so that two workers never push it at the same time."""
    result = db.session.execute(
        update(Invoice)
        .where(
            Invoice.id == invoice_id,
            Invoice.status.in_(
                [InvoiceStatus.FINALIZED, InvoiceStatus.OVERDUE, InvoiceStatus.NEEDS_AUTHENTICATION]
            ),
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
    params: CustomerCreateParams = {"name": client.name, "metadata": {"seatmeter_client": client.ref}}
    if client.billing_email:
        params["email"] = client.billing_email
    customer = client_api.v1.customers.create(
        params=params,
        options={"idempotency_key": f"seatmeter-client-{client.id}-customer"},
    )
    account.stripe_customer_id = customer.id
    db.session.flush()
    return customer.id


def _hosted_url(remote: stripe.Invoice) -> str | None:
    """Stripe's page for the invoice (none while it is a draft; localstripe never has one)."""
    url = getattr(remote, "hosted_invoice_url", None)
    return url if isinstance(url, str) else None


def open_stripe_invoice(client_api: stripe.StripeClient, invoice: Invoice, customer_id: str) -> str:
    """Step 2: an empty draft Invoice in Stripe for ours; its id is kept. Returns the id."""
    month = BillingPeriod.parse(invoice.period).label
    created = client_api.v1.invoices.create(
        params={
            "customer": customer_id,
            "currency": invoice.currency.lower(),
            "collection_method": "charge_automatically",
            # Seatmeter decides when to charge (the push, then BILLING_RETRY_DAYS), not Stripe.
            "auto_advance": False,
            # Stripe's default too; said out loud because "include" is what let two invoices of one
            # client take each other's items.
            "pending_invoice_items_behavior": "exclude",
            "description": f"{month} — invoice {invoice.number}",
            "metadata": {"seatmeter_invoice": str(invoice.id)},
        },
        options={"idempotency_key": idempotency_key(invoice, "open")},
    )
    invoice.stripe_invoice_id = created.id
    invoice.stripe_hosted_invoice_url = _hosted_url(created)
    db.session.flush()
    return created.id


def _lines_already_on(client_api: stripe.StripeClient, stripe_invoice_id: str) -> set[str]:
    """Our line ids already on Stripe's invoice (an earlier attempt stopped half-way)."""
    found = set()
    for item in client_api.v1.invoices.line_items.list(
        stripe_invoice_id, params={"limit": 100}
    ).auto_paging_iter():
        metadata = item.metadata.to_dict() if item.metadata is not None else {}
        if "seatmeter_line" in metadata:
            found.add(str(metadata["seatmeter_line"]))
    return found


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


def add_invoice_items(client_api: stripe.StripeClient, invoice: Invoice, customer_id: str) -> int:
    """Step 3: each of our lines as an item of our own Stripe invoice. Returns how many were added."""
    assert invoice.stripe_invoice_id is not None
    already = _lines_already_on(client_api, invoice.stripe_invoice_id)
    added = 0
    for line in invoice.lines:
        if str(line.id) in already:
            continue
        client_api.v1.invoice_items.create(
            params={
                "customer": customer_id,
                "invoice": invoice.stripe_invoice_id,
                "amount": line.amount_minor,
                "currency": line.currency.lower(),
                "description": line.description,
                # An empty list is sent as nothing at all: an untaxed line stays untaxed.
                "tax_rates": line_tax_rates(client_api, line),
                "metadata": {"seatmeter_invoice": str(invoice.id), "seatmeter_line": str(line.id)},
            },
            options={"idempotency_key": idempotency_key(invoice, f"line-{line.id}")},
        )
        added += 1
    # Carried credit already used on this invoice goes to Stripe as a negative item, so that the card
    # is charged what is left, not the total.
    for application in credit_applied_to(invoice):
        key = f"credit-{application.id}"
        if key in already:
            continue
        client_api.v1.invoice_items.create(
            params={
                "customer": customer_id,
                "invoice": invoice.stripe_invoice_id,
                "amount": -application.amount_minor,
                "currency": invoice.currency.lower(),
                "description": f"Credit from credit note {application.credit_note.number}",
                "metadata": {"seatmeter_invoice": str(invoice.id), "seatmeter_line": key},
            },
            options={"idempotency_key": idempotency_key(invoice, key)},
        )
        added += 1
    return added


@dataclass(frozen=True)
class Collection:
    paid: bool
    # Plain words for the client (e-mails, the billing page).
    reason: str | None = None
    # Stripe's own text, for the reseller's log and the audit record only.
    stripe_message: str | None = None
    # The bank asks the client to confirm the payment (3-D Secure) on Stripe's page.
    needs_authentication: bool = False
    hosted_invoice_url: str | None = None


# Stripe error codes (``code``, or ``decline_code`` for a declined card) in words a client understands.
_PLAIN_REASONS = {
    "expired_card": "your card has expired",
    "insufficient_funds": "your card was declined for insufficient funds",
    "incorrect_cvc": "your card was declined (the security code did not match)",
    "lost_card": "your card was declined",
    "stolen_card": "your card was declined",
    "card_declined": "your card was declined",
    "processing_error": "your bank could not process the payment; we will try again",
    "invoice_no_customer_payment_method": "there is no card on file to charge",
}
# Codes with which Stripe says the bank wants the client to authenticate the payment.
_AUTHENTICATION_CODES = frozenset({"authentication_required", "invoice_payment_intent_requires_action"})


def plain_reason(error: stripe.StripeError) -> str:
    """Why a payment failed, in plain words; Stripe's own text is never shown to the client."""
    decline_code = error.error.decline_code if error.error is not None else None
    for code in (decline_code, error.code):
        if code and code in _PLAIN_REASONS:
            return _PLAIN_REASONS[code]
    if isinstance(error, stripe.CardError):
        return "your card was declined"
    if isinstance(error, stripe.InvalidRequestError):
        # Stripe refuses to charge when there is nothing to charge it to.
        return "there is no card on file to charge"
    return "the payment did not go through"


def collect(client_api: stripe.StripeClient, invoice: Invoice) -> Collection:
    """Step 4: ask Stripe to charge the invoice (or notice it is already paid)."""
    assert invoice.stripe_invoice_id is not None
    remote = client_api.v1.invoices.retrieve(invoice.stripe_invoice_id)
    if remote.status == "paid":
        return Collection(paid=True, hosted_invoice_url=_hosted_url(remote))
    expected = invoice.total_minor - sum(
        application.amount_minor for application in credit_applied_to(invoice)
    )
    if remote.total != expected:
        raise StripeMismatch(
            f"Stripe invoice {remote.id} totals {remote.total}, ours {expected} after credit: not charged"
        )
    try:
        result = client_api.v1.invoices.pay(
            invoice.stripe_invoice_id,
            options={"idempotency_key": idempotency_key(invoice, f"pay-{invoice.payment_attempts}")},
        )
    except (stripe.CardError, stripe.InvalidRequestError) as error:
        # A payment failure the client can fix (a declined card, no card), not a bug.
        return Collection(
            paid=False,
            reason=plain_reason(error),
            stripe_message=f"{error.code}: {error}" if error.code else str(error),
            needs_authentication=error.code in _AUTHENTICATION_CODES,
            hosted_invoice_url=_hosted_url(remote),
        )
    if result.status == "paid":
        return Collection(paid=True, hosted_invoice_url=_hosted_url(result))
    return Collection(
        paid=False,
        reason="the payment was not completed",
        stripe_message=f"Stripe invoice status after paying: {result.status}",
        hosted_invoice_url=_hosted_url(result),
    )


def apply_collection(invoice: Invoice, outcome: Collection, now: datetime) -> None:
    if outcome.hosted_invoice_url:
        invoice.stripe_hosted_invoice_url = outcome.hosted_invoice_url
    if outcome.paid:
        mark_paid(STRIPE_ACTOR, invoice, now)
    elif outcome.needs_authentication:
        mark_needs_authentication(STRIPE_ACTOR, invoice, now, stripe_message=outcome.stripe_message)
    else:
        mark_payment_failed(
            STRIPE_ACTOR,
            invoice,
            outcome.reason or "the payment did not go through",
            now,
            stripe_message=outcome.stripe_message,
        )


def invoices_to_push(now: datetime, older_than: timedelta) -> list[int]:
    """The sweep's list: finalized invoices that should be in Stripe by now, and overdue invoices whose
    next retry is due; none that is being pushed."""
    never_sent = and_(
        Invoice.status == InvoiceStatus.FINALIZED,
        Invoice.payment_error.is_(None),
        Invoice.finalized_at <= now - older_than,
    )
    # An overdue invoice is charged again on the days of its retry schedule (BILLING_RETRY_DAYS).
    retry_due = and_(Invoice.status == InvoiceStatus.OVERDUE, Invoice.next_payment_retry_at <= now)
    return list(
        db.session.scalars(
            select(Invoice.id)
            .where(
                or_(never_sent, retry_due),
                or_(Invoice.push_lease_until.is_(None), Invoice.push_lease_until < now),
            )
            .order_by(Invoice.id)
            .limit(1000)
        )
    )
