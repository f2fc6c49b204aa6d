"""Celery tasks: one seat one step (`provisioning.reconcile_seat`) and the periodic sweep.

Each task is the edge of its unit of work and commits; the claim is committed before the platform
call so the call never runs inside a transaction. Retryable platform errors come back through
Celery's retry with exponential backoff and jitter; the sweep heals lost messages and dead workers.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task, shared_task
from flask import current_app
from sqlalchemy.exc import OperationalError

from portal.transactions import task_transaction
from provisioning import engine

log = logging.getLogger("seatmeter.provisioning")
T = TypeVar("T")
DB_ATTEMPTS = 10


@shared_task(bind=True, name="provisioning.reconcile_seat", max_retries=None, acks_late=True)
def reconcile_seat(self: Task, seat_id: int) -> str:
    """Move one seat one step towards its desired state. Safe to run twice, or concurrently."""
    claim = _committed(lambda: engine.claim(seat_id, self.request.id))
    if claim is None:
        return "nothing to do"
    outcome = engine.perform(claim)
    retry_in = _committed(lambda: engine.finish(claim, outcome))
    if retry_in is not None:
        log.info("seat #%s: %s will be tried again in %.1fs", seat_id, claim.action.value, retry_in)
        raise self.retry(countdown=retry_in, queue=current_app.config["PROVISIONING_QUEUE"])
    return f"{claim.action.value}: {'failed' if outcome.error else 'done'}"


@shared_task(name="provisioning.sweep")
def sweep() -> dict[str, Any]:
    """Queue again every seat whose observed state has lagged its desired state for too long."""
    queued = _committed(engine.sweep)
    if queued:
        log.info("sweep queued %d seats again: %s", len(queued), queued[:20])
    return {"queued": len(queued)}


def _committed(work: Callable[[], T]) -> T:
    """Run ``work`` and commit; a busy or briefly unreachable database is tried again.

    SQLite (the default set-up) has one writer at a time, and a transaction that read before it
    wrote fails at once when another process committed in between; PostgreSQL connections drop.
    Both pass; the work is redone from the start of its transaction.
    """
    for attempt in range(1, DB_ATTEMPTS + 1):
        try:
            with task_transaction():
                return work()
        except OperationalError as error:  # rolled back already by task_transaction
            if attempt == DB_ATTEMPTS:
                raise
            log.info("database busy (%s); trying again", error.orig)
            time.sleep(random.uniform(0.02, 0.1) * attempt)  # nosec B311  # retry jitter, not a secret
    raise AssertionError("unreachable")
