"""Giving back, through Stripe, the part of a credit note that its paid invoice no longer owes.

A credit note wholly on money already paid (nothing of it lowers what the invoice owes) becomes a
Stripe credit note on the paid Stripe invoice with ``refund_amount``: Stripe creates the refund for
the charge that paid the invoice, and its own invoice shows the credit note (a post-payment credit
note: the refund, credit and outside-of-Stripe amounts must add up to its total; only the refund is
used, since Seatmeter carries credit for later invoices itself). A note that also lowers an open
invoice is refunded by a bare Refund against the PaymentIntent that paid it: read from the invoice
itself on the older API shapes (and on localstripe), or from the invoice's payments on API versions
that moved it there. One idempotency key per credit note and way, so a retried task never refunds
twice on real Stripe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe

from metering.credits import lifecycle
from metering.credits.models import CreditNote, CreditNoteStatus
from metering.credits.stripe_credit_notes import create_stripe_credit_note
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


def refunds_by_stripe_credit_note(note: CreditNote) -> bool:
    """All of the note is money Stripe collected and gives back: Stripe's credit note can carry it."""
    return (
        note.invoice.stripe_invoice_id is not None
        and note.reduces_invoice_minor == 0
        and note.carry_minor == 0
        and note.refund_minor == note.amount_minor
    )


@dataclass(frozen=True)
class StripeCreditRefund:
    credit_note_id: str
    refund_id: str


def refund_with_stripe_credit_note(client_api: stripe.StripeClient, note: CreditNote) -> StripeCreditRefund:
    """Create the Stripe credit note that refunds the note's ``refund_minor``. Safe to repeat."""
    stripe_invoice_id = note.invoice.stripe_invoice_id
    if stripe_invoice_id is None:
        raise RefundImpossible(f"invoice {note.invoice.number} was never in Stripe")
    created = create_stripe_credit_note(
        client_api, note, stripe_invoice_id, "post-payment", note.refund_minor, note.refund_minor
    )
    answer = created.to_dict()
    # API versions since 2024 list the refunds; older ones name one.
    found = [
        _intent_id(entry.get("refund")) for entry in answer.get("refunds") or [] if isinstance(entry, dict)
    ]
    refund_id = next((value for value in found if value), None) or _intent_id(answer.get("refund"))
    if refund_id is None:
        raise RefundImpossible(f"Stripe credit note {created.id} names no refund")
    return StripeCreditRefund(credit_note_id=created.id, refund_id=refund_id)


def record_refund(
    note: CreditNote, refund_id: str, now: datetime, stripe_credit_note_id: str | None = None
) -> bool:
    """The refund went through: the credit note is settled. False when it was recorded already."""
    if note.status is not CreditNoteStatus.REFUND_DUE:
        return False
    lifecycle.mark_refunded(note, refund_id, now)
    if stripe_credit_note_id is not None:
        note.stripe_credit_note_id = stripe_credit_note_id
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
            "stripe_credit_note_id": stripe_credit_note_id,
        },
    )
    return True
