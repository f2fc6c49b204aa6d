"""Applying a verified Stripe event, exactly once per event id.

Stripe delivers at least once and in any order, and localstripe (the test stand-in) delivers about a
second after the API call; events about objects that are not ours are recorded and ignored. Objects
are read in the shapes of the pinned API version (``STRIPE_API_VERSION``): a Charge or a Dispute
names its PaymentIntent, and Stripe's invoice payments say which invoice that PaymentIntent paid
(an ``invoice`` field, as older versions and localstripe send, is used when present).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from metering.billing.cards import adopt_card
from metering.billing.dunning import (
    mark_needs_authentication,
    mark_paid,
    mark_payment_failed,
    mark_uncollectible,
    mark_voided,
    reseller_contacts,
)
from metering.billing.models import BillingAccount, Invoice, InvoiceStatus, StripeEvent
from metering.billing.stripe_push import stripe_client
from metering.periods import BillingPeriod
from portal.audit.services import Actor, record
from portal.db import db, utcnow
from portal.errors import InvalidInput, NotFound
from portal.money import format_amount
from portal.notifications.services import send_email_after_commit

log = logging.getLogger("seatmeter.billing")
WEBHOOK_ACTOR = Actor.system("Stripe webhook")
PAID_EVENTS = frozenset({"invoice.paid", "invoice.payment_succeeded"})
# The words the client reads when Stripe reports a failed attempt (Stripe's own text is not in it).
FAILED_PAYMENT_REASON = "your card could not be charged"

Handler = Callable[[dict[str, Any]], str]


def _our_invoice(stripe_invoice_id: str | None) -> Invoice | None:
    if not stripe_invoice_id:
        return None
    return db.session.scalars(
        select(Invoice).where(Invoice.stripe_invoice_id == stripe_invoice_id).with_for_update()
    ).first()


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _invoice_paid_by(obj: dict[str, Any]) -> Invoice | None:
    """Our invoice that a Charge or a Dispute is about, if any."""
    invoice_id = _id_of(obj.get("invoice"))
    if invoice_id is None:
        payment_intent = _id_of(obj.get("payment_intent"))
        if payment_intent is None or not current_app.config.get("STRIPE_API_KEY"):
            return None
        payments = stripe_client().v1.invoice_payments.list(
            params={"payment": {"type": "payment_intent", "payment_intent": payment_intent}, "limit": 1}
        )
        if not payments.data:
            return None
        invoice_id = _id_of(payments.data[0].invoice)
    return _our_invoice(invoice_id)


# --- invoices ----------------------------------------------------------------------------------------


def _with_invoice(apply: Callable[[Invoice, dict[str, Any]], str]) -> Handler:
    def handler(obj: dict[str, Any]) -> str:
        invoice = _our_invoice(_id_of(obj))
        if invoice is None:
            return "ignored: not one of our invoices"
        hosted = obj.get("hosted_invoice_url")
        if isinstance(hosted, str) and hosted.startswith("https://"):
            invoice.stripe_hosted_invoice_url = hosted
        return apply(invoice, obj)

    return handler


def _paid(invoice: Invoice, _obj: dict[str, Any]) -> str:
    return "paid" if mark_paid(WEBHOOK_ACTOR, invoice, utcnow()) else "already paid"


def _payment_failed(invoice: Invoice, _obj: dict[str, Any]) -> str:
    if invoice.status is InvoiceStatus.NEEDS_AUTHENTICATION:
        # The same attempt, reported as failed because the bank wants the client to confirm it:
        # the client has the link to do so; the invoice waits for that, not for a new card.
        return "unchanged: waiting for the client to authenticate"
    failed = mark_payment_failed(
        WEBHOOK_ACTOR,
        invoice,
        FAILED_PAYMENT_REASON,
        utcnow(),
        stripe_message="Stripe reported invoice.payment_failed",
    )
    return "overdue" if failed else "unchanged"


def _action_required(invoice: Invoice, obj: dict[str, Any]) -> str:
    asked = mark_needs_authentication(
        WEBHOOK_ACTOR,
        invoice,
        utcnow(),
        hosted_invoice_url=invoice.stripe_hosted_invoice_url,
        stripe_message="Stripe reported invoice.payment_action_required",
    )
    return "needs authentication" if asked else "unchanged"


def _voided(invoice: Invoice, _obj: dict[str, Any]) -> str:
    return "void" if mark_voided(WEBHOOK_ACTOR, invoice, utcnow()) else "unchanged"


def _uncollectible(invoice: Invoice, _obj: dict[str, Any]) -> str:
    return "uncollectible" if mark_uncollectible(WEBHOOK_ACTOR, invoice, utcnow()) else "unchanged"


# --- charges: refunds and disputes (the invoice stays paid, as in Stripe; the reseller is told) --------


def _tell_reseller(subject: str, body: str) -> None:
    for address in reseller_contacts():
        send_email_after_commit(address, subject, body)


def _refunded(obj: dict[str, Any]) -> str:
    invoice = _invoice_paid_by(obj)
    if invoice is None:
        return "ignored: not one of our invoices"
    refunded = int(obj.get("amount_refunded") or 0)
    currency = str(obj.get("currency") or invoice.currency).upper()
    full = bool(obj.get("refunded"))
    record(
        WEBHOOK_ACTOR,
        "invoice.refunded",
        "invoice",
        invoice.id,
        client_id=invoice.client_id,
        details={
            "charge": _id_of(obj),
            "amount_refunded_minor": refunded,
            "currency": currency,
            "full": full,
        },
    )
    amount = format_amount(refunded, currency)
    month = BillingPeriod.parse(invoice.period).label
    _tell_reseller(
        f"Refund on invoice {invoice.number} ({invoice.client.name})",
        f"Stripe reports that {amount} of {invoice.client.name}'s {month} invoice {invoice.number} "
        f"was refunded{' in full' if full else ''} (charge {_id_of(obj)}).\n\n"
        "The invoice stays paid in Seatmeter; record a credit note if the refund corrects the bill.\n",
    )
    return "refund recorded"


def _disputed(obj: dict[str, Any]) -> str:
    invoice = _invoice_paid_by(obj)
    if invoice is None:
        return "ignored: not one of our invoices"
    amount_minor = int(obj.get("amount") or 0)
    currency = str(obj.get("currency") or invoice.currency).upper()
    reason = str(obj.get("reason") or "not given")
    evidence = obj.get("evidence_details")
    due_by = evidence.get("due_by") if isinstance(evidence, dict) else None
    due = datetime.fromtimestamp(due_by, UTC).strftime("%d %B %Y") if isinstance(due_by, int) else None
    record(
        WEBHOOK_ACTOR,
        "invoice.disputed",
        "invoice",
        invoice.id,
        client_id=invoice.client_id,
        details={
            "dispute": _id_of(obj),
            "amount_minor": amount_minor,
            "currency": currency,
            "reason": reason,
            "evidence_due": due,
        },
    )
    month = BillingPeriod.parse(invoice.period).label
    _tell_reseller(
        f"Dispute on invoice {invoice.number} ({invoice.client.name})",
        f"{invoice.client.name} disputed the payment of {format_amount(amount_minor, currency)} for "
        f"the {month} invoice {invoice.number} with their bank (reason: {reason}). Stripe holds the money "
        "until the dispute is decided.\n\n"
        + (f"Answer it in Stripe's dashboard by {due}.\n" if due else "Answer it in Stripe's dashboard.\n"),
    )
    return "dispute recorded"


# --- Checkout: a card added even if the browser never comes back ------------------------------------


def _checkout_completed(obj: dict[str, Any]) -> str:
    if obj.get("mode") != "setup":
        return "ignored: not a card setup"
    customer_id = _id_of(obj.get("customer"))
    account = (
        db.session.scalars(
            select(BillingAccount).where(BillingAccount.stripe_customer_id == customer_id)
        ).first()
        if customer_id
        else None
    )
    if account is None:
        return "ignored: not one of our customers"
    try:
        adopt_card(WEBHOOK_ACTOR, account.client, setup_intent_id=_id_of(obj.get("setup_intent")))
    except (NotFound, InvalidInput) as error:
        log.warning("checkout session %s not adopted: %s", _id_of(obj), error)
        return "ignored: the card setup was not confirmed"
    return "card adopted"


INVOICE_HANDLERS: dict[str, Handler] = {
    **{name: _with_invoice(_paid) for name in PAID_EVENTS},
    "invoice.payment_failed": _with_invoice(_payment_failed),
    "invoice.payment_action_required": _with_invoice(_action_required),
    "invoice.voided": _with_invoice(_voided),
    "invoice.marked_uncollectible": _with_invoice(_uncollectible),
}
HANDLERS: dict[str, Handler] = {
    **INVOICE_HANDLERS,
    "charge.refunded": _refunded,
    "charge.dispute.created": _disputed,
    "checkout.session.completed": _checkout_completed,
}


def apply_stripe_event(event: dict[str, Any]) -> str:
    """Apply one event; returns what it did. A second delivery of an event id is a no-op."""
    event_id = str(event.get("id") or "")
    event_type = str(event.get("type") or "")
    data = event.get("data") or {}
    obj = data.get("object") if isinstance(data, dict) else None
    object_id = obj.get("id") if isinstance(obj, dict) else None
    if not event_id:
        return "ignored: no event id"
    if db.session.get(StripeEvent, event_id) is not None:
        return "duplicate"
    db.session.add(StripeEvent(id=event_id, type=event_type[:100], object_id=object_id))
    db.session.flush()  # a concurrent delivery of the same id fails here, on the primary key

    handler = HANDLERS.get(event_type)
    if handler is None or not isinstance(obj, dict):
        return "ignored"
    return handler(obj)
