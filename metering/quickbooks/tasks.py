"""The QuickBooks sync as a Celery task: queued after each commit that issues a document, by "sync again",
and hourly by beat (which heals a lost message); each document is its own unit of work."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from celery import Task, shared_task

from metering.quickbooks.api import Api
from metering.quickbooks.client import quickbooks_settings
from metering.quickbooks.connection import current_connection
from metering.quickbooks.models import ConnectionState, SyncStatus
from metering.quickbooks.sync import Document, prepare_run, sync_document
from portal.db import utcnow
from portal.transactions import task_transaction

log = logging.getLogger("seatmeter.quickbooks")


@dataclass
class RunSummary:
    counts: dict[str, int] = field(default_factory=dict)
    busy: bool = False
    stopped: str | None = None

    def add(self, status: SyncStatus | None) -> None:
        key = status.value if status is not None else "skipped"
        self.counts[key] = self.counts.get(key, 0) + 1


def sync_quickbooks_now() -> RunSummary:
    """One run over every document; stops early when QuickBooks is busy or must be connected again."""
    summary = RunSummary()
    settings = quickbooks_settings()
    with task_transaction():
        connection = current_connection()
        if settings is None or connection is None or connection.state is ConnectionState.RECONNECT:
            summary.stopped = "not connected"
            return summary
        documents: list[Document] = prepare_run(connection)
        api = Api(connection, settings, utcnow())
    for document in documents:
        with task_transaction():
            if current_connection() is not api.connection:
                summary.stopped = "disconnected"
                return summary
            outcome = sync_document(api, document, utcnow())
        summary.add(outcome.status)
        if outcome.stop is not None:
            summary.stopped = outcome.stop
            log.warning("QuickBooks sync stopped: %s", outcome.stop)
            return summary
        if outcome.busy:
            summary.busy = True
            return summary
    return summary


@shared_task(bind=True, name="metering.sync_quickbooks", max_retries=8, acks_late=True)
def sync_quickbooks(self: Task) -> dict[str, int]:
    summary = sync_quickbooks_now()
    if summary.busy:
        countdown = min(3600, 60 * 2**self.request.retries)
        log.warning("QuickBooks busy; the sync goes on in %ss", countdown)
        raise self.retry(countdown=countdown)
    return summary.counts
