"""Running a month close: the loop the edges drive. Nothing here commits.

Each client is closed inside its own SAVEPOINT, so a failure at one client rolls back that client
only and the others keep their drafts; the month counts as closed only when every client went
through. Who commits is the edge's choice:

* :func:`run_close` (the ``billing close`` command, the ``metering.close_month`` task, the bench)
  ends the read, each batch of clients and the completion record in transactions of their own,
  through the edge's transaction helper it is given (``cli_transaction``, ``task_transaction``);
* :func:`close_in_one_transaction` (``POST /api/v1/billing/close``) does all of it in the caller's
  one transaction, which the API commits once at its edge together with the request's
  ``Idempotency-Key``: a request that fails midway leaves nothing behind, the key included.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from metering.billing.close import (
    CloseOutcome,
    ClosePlan,
    close_client,
    load_ledger,
    prepare_close,
    record_close_completed,
)
from metering.billing.close_batch import staged_drafts
from metering.ledger.services import ClientRange
from metering.periods import BillingPeriod
from portal.audit.services import Actor, record
from portal.db import db
from portal.errors import ServiceError

log = logging.getLogger("seatmeter.billing")

# Clients per transaction (and per multi-row write) in run_close: large enough that commits and
# statements are not the cost, small enough that a transaction holds its locks briefly and a crash
# loses little work.
BATCH_SIZE = 500

# Errors of one client's data (a price missing for the month, a row another close just wrote): the
# client is listed as failed and the others go on. Anything else stops the close.
_CLIENT_ERRORS = (ServiceError, IntegrityError, ValueError, KeyError)


@dataclass
class CloseSummary:
    period: BillingPeriod
    clients: int
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # client ref -> why
    # Batches queued for other workers (close_runs.run_recorded_close fanned the run out): none done yet.
    fanned_out: int = 0

    @property
    def complete(self) -> bool:
        return not self.failures


def _no_progress(items: Iterable[int]) -> Iterable[int]:
    return items


def start_close(
    period: BillingPeriod, tz: ZoneInfo, now: datetime, clients: ClientRange | None = None
) -> tuple[ClosePlan, CloseSummary]:
    """Read the month and list the clients to visit (flushes nothing; raises if it cannot close).

    ``clients`` keeps to a range of client ids (one batch of a close fanned out over workers).
    """
    plan = prepare_close(period, tz, now, clients)
    return plan, CloseSummary(period=period, clients=len(plan.client_ids))


def close_clients(actor: Actor, plan: ClosePlan, client_ids: Iterable[int], summary: CloseSummary) -> None:
    """Close these clients as one batch (multi-row writes); failures go to ``summary``.

    A client whose rating fails is left out and the others written. When the batch's write fails
    as a whole (a row another close just wrote, a constraint one client's data breaks), it is rolled
    back and the clients are closed again one by one, each in its own SAVEPOINT, so the one bad
    client is listed as failed with its reason and never blocks the others.
    """
    ids = list(client_ids)
    if not ids:
        return
    outcomes: dict[int, CloseOutcome] = {}
    failures: dict[str, str] = {}
    try:
        with db.session.begin_nested(), staged_drafts(plan, ids) as batch:
            for client_id in ids:
                try:
                    outcomes[client_id] = close_client(actor, plan, client_id)
                except _CLIENT_ERRORS as error:
                    batch.discard(client_id)
                    failures[_ref(plan, client_id)] = _failed(plan, client_id, error)
            batch.write()
    except _CLIENT_ERRORS as error:
        log.warning(
            "month close %s: a batch of %d clients could not be written together (%s); "
            "closing them one by one",
            plan.period,
            len(ids),
            error,
        )
        close_clients_one_by_one(actor, plan, ids, summary)
        return
    summary.failures.update(failures)
    summary.outcomes.update(outcome.value for outcome in outcomes.values())


def close_clients_one_by_one(
    actor: Actor, plan: ClosePlan, client_ids: Iterable[int], summary: CloseSummary
) -> None:
    """Close these clients each in a SAVEPOINT of the current transaction; failures go to ``summary``."""
    client_ids = list(client_ids)
    load_ledger(plan, client_ids)
    for client_id in client_ids:
        try:
            with db.session.begin_nested():
                outcome = close_client(actor, plan, client_id)
        except _CLIENT_ERRORS as error:
            summary.failures[_ref(plan, client_id)] = _failed(plan, client_id, error)
            continue
        summary.outcomes[outcome.value] += 1


def _ref(plan: ClosePlan, client_id: int) -> str:
    return plan.refs.get(client_id, str(client_id))


# How PostgreSQL and SQLite name the one-invoice-per-client-and-month rule when it refuses a row.
_ONE_INVOICE_A_MONTH = ("uq_invoices_client_id_period", "invoices.client_id, invoices.period")
WRITTEN_BY_ANOTHER_CLOSE = (
    "Another close of this month wrote this client's invoice at the same time; "
    "close the month again to check it."
)


def _failed(plan: ClosePlan, client_id: int, error: Exception) -> str:
    """Why the client failed, in words for the reseller (the log keeps the database's own text)."""
    log.error("month close %s: client %s failed: %s", plan.period, _ref(plan, client_id), error)
    if isinstance(error, IntegrityError):
        if any(name in str(error.orig) for name in _ONE_INVOICE_A_MONTH):
            return WRITTEN_BY_ANOTHER_CLOSE
        return "The database refused this client's invoice; the server's log has the details."
    return str(error)


def finish_close(actor: Actor, plan: ClosePlan, summary: CloseSummary) -> None:
    """Mark the month closed if every client went through, and record the run."""
    if db.session.get_bind().dialect.name == "postgresql":
        # close_client lets drafts commit without waiting for the disk; the month counting as
        # closed must not be lost, so this transaction commits durably again.
        db.session.execute(text("SET LOCAL synchronous_commit TO ON"))
    if summary.complete:
        record_close_completed(plan)
    record(
        actor,
        "billing.period_closed",
        "billing_period",
        str(plan.period),
        details={"clients": summary.clients, **summary.outcomes, "failed": sorted(summary.failures)},
    )
    db.session.flush()


def close_in_one_transaction(
    actor: Actor,
    period: BillingPeriod,
    tz: ZoneInfo,
    now: datetime,
    progress: Callable[[Iterable[int]], Iterable[int]] = _no_progress,
) -> CloseSummary:
    """The whole close in the caller's transaction (the API request commits it at its edge)."""
    plan, summary = start_close(period, tz, now)
    close_clients(actor, plan, progress(plan.client_ids), summary)
    finish_close(actor, plan, summary)
    return summary


def _batches(items: Iterable[int], size: int) -> Iterator[list[int]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def run_close(
    actor: Actor,
    period: BillingPeriod,
    tz: ZoneInfo,
    now: datetime,
    progress: Callable[[Iterable[int]], Iterable[int]] = _no_progress,
    *,
    transaction: Callable[[], AbstractContextManager[object]],
    batch_size: int | None = None,
) -> CloseSummary:
    """The close in short transactions: the read, each batch of clients, then the completion record.

    ``transaction`` is the calling edge's own helper (``portal.transactions.cli_transaction`` or
    ``task_transaction``): each block it opens commits on success and rolls back on an error.
    """
    with transaction():
        plan, summary = start_close(period, tz, now)
    ids: Sequence[int] = plan.client_ids
    for batch in _batches(progress(ids), batch_size or BATCH_SIZE):
        with transaction():
            close_clients(actor, plan, batch, summary)
    with transaction():
        finish_close(actor, plan, summary)
    return summary


__all__ = [
    "BATCH_SIZE",
    "CloseOutcome",
    "CloseSummary",
    "close_clients",
    "close_clients_one_by_one",
    "close_in_one_transaction",
    "finish_close",
    "run_close",
    "start_close",
]
