"""Beat's housekeeping for the API: Idempotency-Keys are remembered for 24 hours."""

from __future__ import annotations

from celery import shared_task

from portal.api.idempotency import purge_idempotency_keys
from portal.db import utcnow
from portal.transactions import task_transaction


@shared_task(name="api.purge_idempotency_keys")
def purge_old_idempotency_keys() -> dict[str, int]:
    """Delete keys older than KEY_LIFETIME; safe to run any number of times."""
    with task_transaction():
        deleted = purge_idempotency_keys(utcnow())
    return {"idempotency_keys": deleted}
