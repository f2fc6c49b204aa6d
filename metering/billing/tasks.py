"""Celery tasks of billing: sending finalized invoices to Stripe, the push sweep, and dunning.

Each task is the edge of its units of work and commits after each step (one ``task_transaction``
block each), so Stripe is never called inside a database transaction that could roll back what it
did. The month close runs here too, one transaction per batch of clients.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import stripe
from celery import Task, shared_task
from flask import current_app

from metering.billing.close_runs import run_recorded_batch, run_recorded_close
from metering.billing.dunning import clients_past_grace, suspend_for_nonpayment
from metering.billing.models import InvoiceStatus
from metering.billing.queries import parse_period
from metering.billing.runs import run_close
from metering.billing.stripe_push import (
    StripeMismatch,
    StripeNotConfigured,
    add_invoice_items,
    apply_collection,
    claim_push,
    collect,
    ensure_client_customer,
    invoices_to_push,
    open_stripe_invoice,
    release_push,
    stripe_client,
)
from metering.settings import billing_timezone, dunning_grace_period
from portal.audit.services import Actor
from portal.celery_app import enqueue_after_commit
from portal.db import utcnow
from portal.transactions import task_transaction

log = logging.getLogger("seatmeter.billing")

# Errors worth trying again later: the network, Stripe's rate limit, Stripe's own 5xx.
_RETRYABLE = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)
SWEEP_AFTER = timedelta(minutes=10)
CLOSE_ACTOR = Actor.system("month close (worker)")


def push_invoice_now(invoice_id: int) -> str:
    """Push one invoice to Stripe and collect it. Returns what happened; raises retryable errors."""
    with task_transaction():
        invoice = claim_push(invoice_id, utcnow())
    if invoice is None:
        return "nothing to do"
    try:
        client_api = stripe_client()
        with task_transaction():
            customer_id = ensure_client_customer(client_api, invoice.client)
        if invoice.stripe_invoice_id is None:
            with task_transaction():
                open_stripe_invoice(client_api, invoice, customer_id)
        with task_transaction():
            # Lines already on Stripe's invoice (a retry, an earlier attempt) are not added again.
            add_invoice_items(client_api, invoice, customer_id)
        with task_transaction():
            # Counted before the call: the attempt number is part of the "pay" idempotency key.
            invoice.payment_attempts += 1
        outcome = collect(client_api, invoice)
        with task_transaction():
            apply_collection(invoice, outcome, utcnow())
            release_push(invoice)
        return "paid" if outcome.paid else f"payment failed: {outcome.reason}"
    except _RETRYABLE:
        # The step that failed was rolled back by its block; the claim is given up in a new one.
        with task_transaction():
            release_push(invoice)
        raise
    except StripeNotConfigured:
        # Not an error of this invoice: once the key is set, the sweep sends it.
        with task_transaction():
            release_push(invoice)
        log.info("invoice %s waits for Stripe to be configured (STRIPE_API_KEY)", invoice.number)
        return "waiting: Stripe is not configured"
    except (StripeMismatch, stripe.StripeError) as error:
        with task_transaction():
            if invoice.status is InvoiceStatus.FINALIZED:
                # Delivery bookkeeping (the sweep leaves it alone); the client's pages do not show it.
                invoice.payment_error = str(error)[:1000]
            else:
                # An overdue invoice keeps its plain-words reason for the client; no retry loops on it.
                invoice.next_payment_retry_at = None
            release_push(invoice)
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
    with task_transaction():
        ids = invoices_to_push(utcnow(), SWEEP_AFTER)
        for invoice_id in ids:
            enqueue_after_commit(push_invoice, invoice_id)
    return {"queued": len(ids)}


@shared_task(name="metering.dunning")
def enforce_dunning() -> dict[str, int]:
    """Suspend, through provisioning, every client whose invoice stayed overdue past the grace period."""
    now, grace = utcnow(), dunning_grace_period()
    suspended = 0
    for client_id in clients_past_grace(now, grace):
        try:
            with task_transaction():
                suspended += suspend_for_nonpayment(client_id, now, grace)
        except Exception:  # one client's failure must not stop the others (rolled back already)
            log.exception("could not suspend client #%s for non-payment", client_id)
    return {"suspended": suspended}


@shared_task(name="metering.close_month", acks_late=True)
def close_month(period: str, run_id: int | None = None) -> dict[str, Any]:
    """Close ``period`` (YYYY-MM) in the worker: one transaction per batch of clients.

    Safe to run twice (drafts are rebuilt, never doubled), so a redelivered message is harmless.
    With ``run_id`` (the console's "Close" button) the run records its progress and outcome for the
    review page; a run that is over already is left alone.
    """
    if run_id is not None:
        recorded = run_recorded_close(run_id, billing_timezone(), utcnow(), transaction=task_transaction)
        if recorded is None:
            return {"run": run_id, "skipped": True}
        if recorded.fanned_out:
            return {"run": run_id, "clients": recorded.clients, "batches": recorded.fanned_out}
        summary = recorded
    else:
        summary = run_close(
            CLOSE_ACTOR, parse_period(period), billing_timezone(), utcnow(), transaction=task_transaction
        )
    if summary.failures:
        log.error("month close %s: %d clients failed: %s", period, len(summary.failures), summary.failures)
    return {"clients": summary.clients, "outcomes": dict(summary.outcomes), "failed": summary.failures}


@shared_task(name="metering.close_month_batch", acks_late=True)
def close_month_batch(
    run_id: int, number: int, low: int | None, high: int | None, now: str
) -> dict[str, Any]:
    """One batch of a fanned-out close run (clients with ids from ``low`` to ``high``, either open).

    ``now`` is the run's moment (ISO 8601), so every batch bills the month as of the same instant.
    A batch delivered twice, or for a run that is over, does nothing.
    """
    summary = run_recorded_batch(
        run_id,
        number,
        (low, high),
        billing_timezone(),
        datetime.fromisoformat(now),
        transaction=task_transaction,
    )
    if summary is None:
        return {"run": run_id, "batch": number, "skipped": True}
    if summary.failures:
        log.error("month close run %s batch %s: %d clients failed", run_id, number, len(summary.failures))
    return {"run": run_id, "batch": number, "outcomes": dict(summary.outcomes), "failed": summary.failures}
