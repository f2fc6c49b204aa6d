"""Celery tasks of billing: sending finalized invoices to Stripe, the push sweep, and dunning.

Each task is the edge of its units of work and commits after each step, so Stripe is never called
inside a database transaction that could roll back what it did.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import stripe
from celery import Task, shared_task
from flask import current_app

from metering.billing.dunning import clients_past_grace, suspend_for_nonpayment
from metering.billing.stripe_push import (
    StripeMismatch,
    StripeNotConfigured,
    apply_collection,
    claim_push,
    collect,
    create_stripe_invoice,
    ensure_client_customer,
    invoices_to_push,
    release_push,
    stripe_client,
)
from metering.settings import dunning_grace_period
from portal.db import db, utcnow

log = logging.getLogger("seatmeter.billing")

# Errors worth trying again later: the network, Stripe's rate limit, Stripe's own 5xx.
_RETRYABLE = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)
SWEEP_AFTER = timedelta(minutes=10)


def push_invoice_now(invoice_id: int) -> str:
    """Push one invoice to Stripe and collect it. Returns what happened; raises retryable errors."""
    invoice = claim_push(invoice_id, utcnow())
    db.session.commit()
    if invoice is None:
        return "nothing to do"
    try:
        client_api = stripe_client()
        customer_id = ensure_client_customer(client_api, invoice.client)
        db.session.commit()
        if invoice.stripe_invoice_id is None:
            create_stripe_invoice(client_api, invoice, customer_id)
            db.session.commit()
        # Counted before the call: the attempt number is part of the "pay" idempotency key.
        invoice.payment_attempts += 1
        db.session.commit()
        outcome = collect(client_api, invoice)
        apply_collection(invoice, outcome, utcnow())
        release_push(invoice)
        db.session.commit()
        return "paid" if outcome.paid else f"payment failed: {outcome.reason}"
    except _RETRYABLE:
        db.session.rollback()
        release_push(invoice)
        db.session.commit()
        raise
    except StripeNotConfigured:
        # Not an error of this invoice: once the key is set, the sweep sends it.
        db.session.rollback()
        release_push(invoice)
        db.session.commit()
        log.info("invoice %s waits for Stripe to be configured (STRIPE_API_KEY)", invoice.number)
        return "waiting: Stripe is not configured"
    except (StripeMismatch, stripe.StripeError) as error:
        db.session.rollback()
        invoice.payment_error = str(error)[:1000]
        release_push(invoice)
        db.session.commit()
        log.error("invoice %s could not be sent to Stripe: %s", invoice.number, error)
        return f"error: {error}"


@shared_task(bind=True, name="metering.push_invoice", max_retries=8, acks_late=True)
def push_invoice(self: Task, invoice_id: int) -> str:
    try:
        return push_invoice_now(invoice_id)
    except _RETRYABLE as error:
        countdown = min(3600, 30 * 2**self.request.retries)
        log.warning("Stripe unavailable for invoice #%s (%s); retrying in %ss", invoice_id, error, countdown)
        raise self.retry(countdown=countdown) from error


@shared_task(name="metering.push_sweep")
def push_sweep() -> dict[str, int]:
    """Re-queue finalized invoices that never reached Stripe (lost message, dead worker, no key yet)."""
    if not current_app.config.get("STRIPE_API_KEY"):
        return {"queued": 0}
    ids = invoices_to_push(utcnow(), SWEEP_AFTER)
    db.session.commit()
    for invoice_id in ids:
        push_invoice.delay(invoice_id)
    return {"queued": len(ids)}


@shared_task(name="metering.dunning")
def enforce_dunning() -> dict[str, int]:
    """Suspend, through provisioning, every client whose invoice stayed overdue past the grace period."""
    now, grace = utcnow(), dunning_grace_period()
    suspended = 0
    for client_id in clients_past_grace(now, grace):
        try:
            suspended += suspend_for_nonpayment(client_id, now, grace)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("could not suspend client #%s for non-payment", client_id)
    return {"suspended": suspended}
