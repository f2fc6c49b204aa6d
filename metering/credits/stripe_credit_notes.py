"""Passing a credit note to Stripe when it lowers an open invoice that Stripe already holds.

Without it Stripe would go on charging the invoice's whole amount due while Seatmeter says less is
owed. A Stripe credit note of ``reduces_invoice_minor`` on that invoice lowers its ``amount_due``
(Stripe's documented behaviour for an open invoice; a credit note for all of it marks the invoice
paid), so the next charge is the balance. One idempotency key per credit note, so a retried task
never credits twice on real Stripe. Verified against the sandbox's stand-in only (docs/stripe.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import stripe

from metering.billing.models import Invoice, InvoiceStatus
from metering.credits.models import CreditNote
from portal.audit.services import Actor, record
from portal.db import db

if TYPE_CHECKING:
    from stripe.params import CreditNoteCreateParams

STRIPE_CREDIT_ACTOR = Actor.system("billing (Stripe credit notes)")
# Stripe keeps at most 5000 characters of memo; a reason is far shorter (MAX_CREDIT_REASON).
_MEMO_LIMIT = 5000

# Stripe still asks for money on these: a credit note must lower what it asks.
_OPEN_IN_STRIPE = (InvoiceStatus.FINALIZED, InvoiceStatus.OVERDUE, InvoiceStatus.NEEDS_AUTHENTICATION)


def due_in_stripe(note: CreditNote, invoice: Invoice) -> bool:
    """The note lowers what an invoice Stripe holds still asks for. Asked as the note is issued,
    before the credit may settle the invoice here (Stripe's invoice is still open then)."""
    return (
        note.reduces_invoice_minor > 0
        and invoice.stripe_invoice_id is not None
        and invoice.status in _OPEN_IN_STRIPE
        and note.stripe_credit_note_id is None
    )


def credit_through_stripe(client_api: stripe.StripeClient, note: CreditNote) -> str:
    """Create the Stripe credit note lowering the invoice's amount due; its id. Safe to repeat."""
    stripe_invoice_id = note.invoice.stripe_invoice_id
    if stripe_invoice_id is None:
        raise ValueError(f"invoice {note.invoice.number} was never in Stripe")
    amount = note.reduces_invoice_minor
    return create_stripe_credit_note(client_api, note, stripe_invoice_id, "credit", amount).id


def create_stripe_credit_note(
    client_api: stripe.StripeClient,
    note: CreditNote,
    stripe_invoice_id: str,
    purpose: str,
    amount: int,
    refund_amount: int | None = None,
) -> stripe.CreditNote:
    """Stripe's copy of ``note``: every one names the note in its memo and metadata, and one
    idempotency key per note and ``purpose`` makes a repeat return the first instead of a second."""
    params: CreditNoteCreateParams = {
        "invoice": stripe_invoice_id,
        "amount": amount,
        "memo": f"{note.number}: {note.reason}"[:_MEMO_LIMIT],
        "metadata": {"seatmeter_credit_note": note.number, "seatmeter_invoice": str(note.invoice_id)},
    }
    if refund_amount is not None:
        params["refund_amount"] = refund_amount
    return client_api.v1.credit_notes.create(
        params=params, options={"idempotency_key": f"seatmeter-credit-note-{note.id}-{purpose}"}
    )


def record_stripe_credit_note(note: CreditNote, stripe_credit_note_id: str, now: datetime) -> bool:
    """Stripe holds the credit note. False when it was recorded already."""
    if note.stripe_credit_note_id is not None:
        return False
    note.stripe_credit_note_id = stripe_credit_note_id
    db.session.flush()
    record(
        STRIPE_CREDIT_ACTOR,
        "credit_note.sent_to_stripe",
        "credit_note",
        note.id,
        client_id=note.client_id,
        details={
            "number": note.number,
            "invoice": note.invoice.number,
            "amount_minor": note.reduces_invoice_minor,
            "currency": note.currency,
            "stripe_credit_note_id": stripe_credit_note_id,
            "at": now.isoformat(),
        },
    )
    return True
