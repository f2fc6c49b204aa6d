"""A month close started from the console: one :class:`CloseRun` per press of the button.

The console calls :func:`start_close_run` (it checks the month may be closed now, records the run and
queues ``metering.close_month`` after the commit); the task calls :func:`run_recorded_close`, which
drives :mod:`metering.billing.runs`' loop and writes the run's progress in the same transaction as each
batch of clients, so what the page shows is exactly what is committed. Nothing here commits.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from metering.billing import runs
from metering.billing.close import CloseOutcome, check_period_over, period_state
from metering.billing.models import CloseRun, CloseRunStatus
from metering.periods import BillingPeriod
from portal.audit.services import Actor, record
from portal.celery_app import enqueue_after_commit
from portal.db import db, utcnow
from portal.errors import Conflict, ServiceError

log = logging.getLogger("seatmeter.billing")

# A running close whose progress has not moved for this long lost its worker (killed, or the message
# never reached a broker): it no longer blocks a new close of the month.
STALE_AFTER = timedelta(minutes=30)

# A close of this many clients or more is fanned out: one ``metering.close_month_batch`` task per
# batch, taken by whichever workers (on whichever hosts) are free. Below it one worker closes the
# month in seconds, without the messages.
FAN_OUT_FROM = 2_000

# How the page names each outcome of a client, in the order it lists them.
OUTCOME_WORDS = {
    CloseOutcome.CREATED.value: "drafts created",
    CloseOutcome.REBUILT.value: "drafts updated",
    CloseOutcome.UNCHANGED.value: "unchanged",
    CloseOutcome.REMOVED.value: "drafts removed (nothing left to bill)",
    CloseOutcome.EMPTY.value: "clients with nothing to bill",
    CloseOutcome.FINALIZED.value: "already finalized",
}


def latest_close_run(period: BillingPeriod) -> CloseRun | None:
    """The month's most recent close started from the console, if any."""
    return db.session.scalars(
        select(CloseRun).where(CloseRun.period == str(period)).order_by(CloseRun.id.desc()).limit(1)
    ).first()


def _is_stale(run: CloseRun, now: datetime) -> bool:
    return run.status is CloseRunStatus.RUNNING and now - run.updated_at > STALE_AFTER


def close_refusal(period: BillingPeriod, tz: ZoneInfo, now: datetime) -> str | None:
    """Why the month cannot be closed right now, in plain words; None when it can."""
    try:
        check_period_over(period, tz, now)
    except Conflict as error:
        return error.message
    state = period_state(period)
    if state is not None and state.finalized_at is not None:
        return f"{period.label} is finalized: its bills are issued and no longer change."
    run = latest_close_run(period)
    if run is not None and run.status is CloseRunStatus.RUNNING and not _is_stale(run, now):
        return f"{period.label} is being closed right now; wait until it finishes."
    return None


def start_close_run(actor: Actor, period: BillingPeriod, tz: ZoneInfo, now: datetime) -> CloseRun:
    """Record a close of ``period`` and queue it for a worker after the commit (flushes only)."""
    refusal = close_refusal(period, tz, now)
    if refusal is not None:
        raise Conflict(refusal, fields={"period": refusal})
    previous = latest_close_run(period)
    if previous is not None and _is_stale(previous, now):
        _end(previous, CloseRunStatus.FAILED, now, "It stopped moving (the worker may have stopped).")
    run = CloseRun(
        period=str(period),
        status=CloseRunStatus.RUNNING,
        clients_done=0,
        outcomes={},
        failures={},
        started_by=actor.label,
        started_by_user_id=actor.user_id,
        started_at=now,
        updated_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(run)
    except IntegrityError:
        # Someone else started one in the same instant: the unique index keeps theirs alone.
        raise Conflict(
            f"{period.label} is being closed right now; wait until it finishes.",
            fields={"period": "Already being closed."},
        ) from None
    record(actor, "billing.close_started", "billing_period", str(period), details={"run": run.id})
    enqueue_after_commit("metering.close_month", str(period), run.id)
    return run


def _running(run_id: int) -> CloseRun | None:
    run = db.session.get(CloseRun, run_id)
    return run if run is not None and run.status is CloseRunStatus.RUNNING else None


def _end(run: CloseRun, status: CloseRunStatus, now: datetime, error: str | None = None) -> None:
    run.status = status
    run.error = error
    run.finished_at = run.updated_at = now
    db.session.flush()


def _note_progress(run_id: int, done: int, summary: runs.CloseSummary) -> None:
    run = _running(run_id)
    if run is None:
        return
    run.clients_done = done
    # New objects, not changed ones: a JSON column only notices assignment.
    run.outcomes = dict(summary.outcomes)
    run.failures = dict(summary.failures)
    run.updated_at = utcnow()
    db.session.flush()


def _batches(items: list[int], size: int) -> Iterator[list[int]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def run_recorded_close(
    run_id: int,
    tz: ZoneInfo,
    now: datetime,
    *,
    transaction: Callable[[], AbstractContextManager[object]],
    batch_size: int | None = None,
) -> runs.CloseSummary | None:
    """Carry out close run ``run_id`` like :func:`runs.run_close`, writing its progress per batch.

    A run that is not running any more (a message delivered twice, a stale run replaced) is left
    alone and None returned. A refusal of the close itself (the month got finalized meanwhile) ends
    the run as failed with its reason; any other error does too, and is raised for the worker's log.
    """
    with transaction():
        run = _running(run_id)
        if run is None:
            return None
        period = BillingPeriod.parse(run.period)
        # The close's own audit entries name the person who pressed the button.
        actor = Actor(label=f"{run.started_by} (month close)", user_id=run.started_by_user_id)
    try:
        with transaction():
            plan, summary = runs.start_close(period, tz, now)
            started = _running(run_id)
            if started is None:
                return None
            started.clients_total = summary.clients
            started.updated_at = utcnow()
        batches = list(_batches(plan.client_ids, batch_size or runs.BATCH_SIZE))
        if len(plan.client_ids) >= FAN_OUT_FROM and len(batches) > 1:
            with transaction():
                _fan_out(run_id, batches, now)
            summary.fanned_out = len(batches)
            return summary
        done = 0
        for batch in batches:
            with transaction():
                runs.close_clients(actor, plan, batch, summary)
                done += len(batch)
                _note_progress(run_id, done, summary)
        with transaction():
            runs.finish_close(actor, plan, summary)
            _note_progress(run_id, done, summary)
            if (finished := _running(run_id)) is not None:
                _end(finished, CloseRunStatus.FINISHED, utcnow())
    except Exception as error:
        reason = error.message if isinstance(error, ServiceError) else f"An unexpected error: {error}"[:500]
        with transaction():
            if (failed := _running(run_id)) is not None:
                _end(failed, CloseRunStatus.FAILED, utcnow(), reason)
        if isinstance(error, ServiceError):
            log.warning("month close %s (run %s) refused: %s", period, run_id, reason)
            return None
        raise
    return summary


def _fan_out(run_id: int, batches: list[list[int]], now: datetime) -> None:
    """Queue one ``metering.close_month_batch`` per batch, after the commit that records them."""
    run = _running(run_id)
    if run is None:
        return
    run.batches_total = len(batches)
    run.batches_finished = []
    run.updated_at = utcnow()
    db.session.flush()
    # Each batch owns a range of client ids, the ranges end to end: whatever the month needs when a
    # batch runs (a client added meanwhile), some batch closes it and no two batches share a client.
    for number, batch in enumerate(batches):
        low = batch[0] if number else None
        high = batches[number + 1][0] - 1 if number + 1 < len(batches) else None
        enqueue_after_commit("metering.close_month_batch", run_id, number, low, high, now.isoformat())


class _BatchNotWanted(Exception):
    """The run ended, or this batch was done already (a message delivered twice): roll it back."""


def run_recorded_batch(
    run_id: int,
    number: int,
    clients: tuple[int | None, int | None],
    tz: ZoneInfo,
    now: datetime,
    *,
    transaction: Callable[[], AbstractContextManager[object]],
) -> runs.CloseSummary | None:
    """Close batch ``number`` of a fanned-out run: the clients whose ids are within ``clients``.

    The batch's drafts and its progress commit together. The batch that finishes last completes
    the run (the month counts as closed if no client failed). None when there was nothing to do:
    the run is over, or this batch was done already.
    """
    with transaction():
        run = _running(run_id)
        if run is None or number in (run.batches_finished or []):
            return None
        period = BillingPeriod.parse(run.period)
        actor = Actor(label=f"{run.started_by} (month close)", user_id=run.started_by_user_id)
    try:
        with transaction():
            plan, _batch = runs.start_close(period, tz, now, clients)
            ids = plan.client_ids
            summary = runs.CloseSummary(period=period, clients=len(ids))
            runs.close_clients(actor, plan, ids, summary)
            # Batches finish in any order on any host: the run's row is merged into under its lock.
            # populate_existing: the session keeps objects across commits, and this run's row was
            # changed by the other batches' workers since it was last read here.
            locked = db.session.scalars(
                select(CloseRun)
                .where(CloseRun.id == run_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).first()
            finished = list(locked.batches_finished or []) if locked is not None else []
            if locked is None or locked.status is not CloseRunStatus.RUNNING or number in finished:
                raise _BatchNotWanted
            outcomes = Counter(locked.outcomes or {})
            outcomes.update(summary.outcomes)
            locked.outcomes = dict(outcomes)
            locked.failures = {**(locked.failures or {}), **summary.failures}
            locked.clients_done += len(ids)
            locked.batches_finished = [*finished, number]
            locked.updated_at = utcnow()
            if len(locked.batches_finished) == locked.batches_total:
                whole = runs.CloseSummary(
                    period=period,
                    clients=locked.clients_done,
                    outcomes=Counter(locked.outcomes),
                    failures=dict(locked.failures),
                )
                runs.finish_close(actor, plan, whole)
                _end(locked, CloseRunStatus.FINISHED, utcnow())
            db.session.flush()
    except _BatchNotWanted:
        return None
    except Exception as error:
        reason = error.message if isinstance(error, ServiceError) else f"An unexpected error: {error}"[:500]
        with transaction():
            if (failed := _running(run_id)) is not None:
                _end(failed, CloseRunStatus.FAILED, utcnow(), reason)
        if isinstance(error, ServiceError):
            log.warning("month close %s (run %s, batch %s) refused: %s", period, run_id, number, reason)
            return None
        raise
    return summary


def close_run_json(run: CloseRun | None) -> dict[str, Any]:
    """What the review page's progress shows, for its status endpoint."""
    if run is None:
        return {"status": "none"}
    return {
        "status": run.status.value,
        "period": run.period,
        "clients_total": run.clients_total,
        "clients_done": run.clients_done,
        "outcomes": dict(run.outcomes or {}),
        "failures": [{"client": ref, "reason": why} for ref, why in sorted((run.failures or {}).items())],
        "error": run.error,
        "started_by": run.started_by,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "progress": close_run_progress(run),
    }


def close_run_progress(run: CloseRun) -> str:
    """One plain sentence on where the run is."""
    month = BillingPeriod.parse(run.period).label
    if run.status is CloseRunStatus.RUNNING:
        if run.clients_total is None:
            return f"Closing {month}: waiting for a worker to start."
        return f"Closing {month}: {run.clients_done} of {run.clients_total} clients done."
    if run.status is CloseRunStatus.FAILED:
        return f"The close of {month} stopped: {run.error or 'no reason was given.'}"
    failed = len(run.failures or {})
    text = f"{month} is closed: {run.clients_done - failed} of {run.clients_done} clients went through"
    return text + (f", {failed} failed (listed below)." if failed else ".")


def close_run_counts(run: CloseRun) -> list[tuple[str, int]]:
    """(words, count) for each outcome that happened, in a fixed order."""
    outcomes = run.outcomes or {}
    return [(words, outcomes[key]) for key, words in OUTCOME_WORDS.items() if outcomes.get(key)]


__all__ = [
    "FAN_OUT_FROM",
    "STALE_AFTER",
    "close_refusal",
    "close_run_counts",
    "close_run_json",
    "close_run_progress",
    "latest_close_run",
    "run_recorded_batch",
    "run_recorded_close",
    "start_close_run",
]
