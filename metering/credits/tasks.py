"""Celery task of credit notes: refunding through Stripe, after the credit note's commit."""

from __future__ import annotations

import logging

import stripe
from celery import Task, shared_task

from metering.billing.stripe_push import StripeNotConfigured, stripe_client
from metering.credits.models import CreditNote, CreditNoteStatus
from metering.credits.stripe_refunds import RefundImpossible, record_refund, refund_through_stripe
from portal.db import db, utcnow
from portal.transactions import task_transaction

log = logging.getLogger("seatmeter.billing")

_RETRYABLE = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


def refund_credit_note_now(credit_note_id: int) -> str:
    """Refund one credit note's refund through Stripe. Returns what happened; raises retryable errors."""
    with task_transaction():
        note = db.session.get(CreditNote, credit_note_id)
        if note is None or note.status is not CreditNoteStatus.REFUND_DUE:
            return "nothing to do"
    try:
        refund_id = refund_through_stripe(stripe_client(), note)
    except (StripeNotConfigured, RefundImpossible, stripe.InvalidRequestError) as error:
        # Stays "refund due" on the reseller's page; the reason is in the worker's log.
        log.error("credit note %s could not be refunded through Stripe: %s", note.number, error)
        return f"error: {error}"
    with task_transaction():
        record_refund(note, refund_id, utcnow())
    return "refunded"


@shared_task(bind=True, name="metering.refund_credit_note", max_retries=8, acks_late=True)
def refund_credit_note(self: Task, credit_note_id: int) -> str:
    try:
        return refund_credit_note_now(credit_note_id)
    except _RETRYABLE as error:
        countdown = min(3600, 30 * 2**self.request.retries)
        log.warning(
            "Stripe unavailable for credit note #%s (%s); retrying in %ss", credit_note_id, error, countdown
        )
        raise self.retry(countdown=countdown) from error
