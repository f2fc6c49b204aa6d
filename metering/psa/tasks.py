"""Celery tasks of the PSA sync: one client's month, and the sweep that re-queues lost months.

Each record is its own unit of work (one ``task_transaction``): a failure of one product's addition
leaves the others done. A throttled or failing PSA (429, 5xx, network) rolls the record back, notes
why it waits, and retries the task with backoff (at least what the PSA's Retry-After asks for).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task, shared_task

from metering.psa.base import PsaError
from metering.psa.services import (
    SYNC_TASK,
    PsaNotConfigured,
    claim_row,
    note_retry,
    pending_rows,
    psa_client,
    psa_configured,
    push_plan,
    record_outcome,
    stale_pending,
)
from portal.celery_app import enqueue_after_commit
from portal.db import utcnow
from portal.transactions import task_transaction

log = logging.getLogger("seatmeter.psa")

MAX_RETRIES = 8
SWEEP_AFTER = timedelta(minutes=15)


def backoff_seconds(retries: int, retry_after: int | None) -> int:
    return max(retry_after or 0, min(3600, 30 * 2**retries))


def sync_month_now(client_id: int, period: str, *, give_up: bool = False) -> dict[str, Any]:
    """Sync every pending record of the client's month. Raises the first retryable PsaError."""
    with task_transaction():
        row_ids = pending_rows(client_id, period)
    if not row_ids:
        return {"synced": {}}
    try:
        psa = psa_client()
    except PsaNotConfigured as error:
        log.info("PSA sync of client #%s %s waits: %s", client_id, period, error.message)
        return {"waiting": error.message}
    outcomes: dict[str, int] = {}
    for index, row_id in enumerate(row_ids):
        with task_transaction():
            plan = claim_row(psa.name, row_id, utcnow())
        if isinstance(plan, str):
            outcomes[plan] = outcomes.get(plan, 0) + 1
            continue
        try:
            outcome = push_plan(psa, plan)
        except PsaError as error:
            with task_transaction():
                note_retry(row_ids[index:], error.message, utcnow(), give_up=give_up)
            raise
        with task_transaction():
            state = record_outcome(plan, outcome, utcnow())
        outcomes[state] = outcomes.get(state, 0) + 1
    return {"synced": outcomes}


@shared_task(bind=True, name=SYNC_TASK, max_retries=MAX_RETRIES, acks_late=True)
def sync_month(self: Task, client_id: int, period: str) -> dict[str, Any]:
    try:
        return sync_month_now(client_id, period, give_up=self.request.retries >= MAX_RETRIES)
    except PsaError as error:
        if self.request.retries >= MAX_RETRIES:
            return {"failed": error.message}
        countdown = backoff_seconds(self.request.retries, error.retry_after)
        log.warning(
            "PSA sync of client #%s %s: %s; retrying in %ss", client_id, period, error.message, countdown
        )
        raise self.retry(countdown=countdown) from error


@shared_task(name="psa.sweep")
def sweep() -> dict[str, int]:
    """Re-queue months whose records stayed pending (a lost message, a worker that died)."""
    if not psa_configured():
        return {"queued": 0}
    with task_transaction():
        months = stale_pending(utcnow() - SWEEP_AFTER)
        for client_id, period in months:
            enqueue_after_commit(SYNC_TASK, client_id, period)
    return {"queued": len(months)}
