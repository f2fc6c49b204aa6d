"""Celery tasks of credit notes, after the credit note's commit: refunding through Stripe, and
passing a credit note that lowers an open Stripe invoice to Stripe."""

from __future__ import annotations

import logging

import stripe
from celery import Task, shared_task

from metering.billing.stripe_push import StripeNotConfigured, stripe_client
from metering.credits.models import CreditNote, CreditNoteStatus
from metering.credits.stripe_credit_notes import credit_through_stripe, record_stripe_credit_note
from metering.credits.stripe_refunds import (
    RefundImpossible,
    record_refund,
    refund_through_stripe,
    refund_with_stripe_credit_note,
    refunds_by_stripe_credit_note,
)
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
    stripe_credit_note_id = None
    try:
        if refunds_by_stripe_credit_note(note):
            done = refund_with_stripe_credit_note(stripe_client(), note)
            refund_id, stripe_credit_note_id = done.refund_id, done.credit_note_id
        else:
            refund_id = refund_through_stripe(stripe_client(), note)
    except (StripeNotConfigured, RefundImpossible, stripe.InvalidRequestError) as error:
        # Stays "refund due" on the reseller's page; the reason is in the worker's log.
        log.error("credit note %s could not be refunded through Stripe: %s", note.number, error)
        return f"error: {error}"
    with task_transaction():
        record_refund(note, refund_id, utcnow(), stripe_credit_note_id)
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


def send_credit_note_to_stripe_now(credit_note_id: int) -> str:
    """Create the note's Stripe credit note on its open Stripe invoice. Raises retryable errors."""
    with task_transaction():
        note = db.session.get(CreditNote, credit_note_id)
        if note is None or note.stripe_credit_note_id is not None or note.invoice.stripe_invoice_id is None:
            return "nothing to do"
    try:
        stripe_id = credit_through_stripe(stripe_client(), note)
    except (StripeNotConfigured, stripe.InvalidRequestError) as error:
        # Stripe would charge the whole amount due: the reseller's log says why it was not lowered.
        log.error("credit note %s could not be passed to Stripe: %s", note.number, error)
        return f"error: {error}"
    with task_transaction():
        record_stripe_credit_note(note, stripe_id, utcnow())
    return "sent"


@shared_task(bind=True, name="metering.send_credit_note_to_stripe", max_retries=8, acks_late=True)
def send_credit_note_to_stripe(self: Task, credit_note_id: int) -> str:
    try:
        return send_credit_note_to_stripe_now(credit_note_id)
    except _RETRYABLE as error:
        countdown = min(3600, 30 * 2**self.request.retries)
        log.warning(
            "Stripe unavailable for credit note #%s (%s); retrying in %ss", credit_note_id, error, countdown
        )
        raise self.retry(countdown=countdown) from error
