"""Giving back, through Stripe, the part of a credit note that its paid invoice no longer owes.

The refund goes against the PaymentIntent that paid the invoice: read from the invoice itself on the
older API shapes (and on localstripe), or from the invoice's payments on API versions that moved it
there. One idempotency key per credit note, so a retried task never refunds twice on real Stripe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import stripe

from metering.credits import lifecycle
from metering.credits.models import CreditNote, CreditNoteStatus
from portal.audit.services import Actor, record
from portal.db import db

REFUND_ACTOR = Actor.system("billing (Stripe refunds)")


class RefundImpossible(RuntimeError):
    """Stripe has no payment to refund for this credit note's invoice."""


def _intent_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def _payment_intent_of(client_api: stripe.StripeClient, stripe_invoice_id: str) -> str:
    remote = client_api.v1.invoices.retrieve(stripe_invoice_id)
    intent = _intent_id(remote.to_dict().get("payment_intent"))
    if intent:
        return intent
    payments = client_api.v1.invoice_payments.list(params={"invoice": stripe_invoice_id, "limit": 10})
    for payment in payments.data:
        found = _intent_id(payment.to_dict().get("payment", {}).get("payment_intent"))
        if found:
            return found
    raise RefundImpossible(f"Stripe invoice {stripe_invoice_id} has no payment to refund")


def refund_through_stripe(client_api: stripe.StripeClient, note: CreditNote) -> str:
    """Ask Stripe to refund the note's ``refund_minor``; the refund's id. Safe to repeat."""
    if note.invoice.stripe_invoice_id is None:
        raise RefundImpossible(f"invoice {note.invoice.number} was never in Stripe")
    refund = client_api.v1.refunds.create(
        params={
            "payment_intent": _payment_intent_of(client_api, note.invoice.stripe_invoice_id),
            "amount": note.refund_minor,
            "metadata": {"seatmeter_credit_note": note.number, "seatmeter_invoice": str(note.invoice_id)},
        },
        options={"idempotency_key": f"seatmeter-credit-note-{note.id}-refund"},
    )
    return refund.id


def record_refund(note: CreditNote, refund_id: str, now: datetime) -> bool:
    """The refund went through: the credit note is settled. False when it was recorded already."""
    if note.status is not CreditNoteStatus.REFUND_DUE:
        return False
    lifecycle.mark_refunded(note, refund_id, now)
    db.session.flush()
    record(
        REFUND_ACTOR,
        "credit_note.refunded",
        "credit_note",
        note.id,
        client_id=note.client_id,
        details={
            "number": note.number,
            "amount_minor": note.refund_minor,
            "currency": note.currency,
            "stripe_refund_id": refund_id,
        },
    )
    return True
