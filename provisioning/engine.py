"""One step of one seat, in three phases: claim (commit), platform call (no transaction), finish.

The task around these functions commits between the phases. The claim takes a lease on the seat so
that two workers never act on it at once, records the attempt and shows the in-progress state; the
platform call runs outside any transaction; the finish records the outcome, the new observed state
and the ledger together. A worker that dies in between leaves a RUNNING attempt and a lease that
lapses; the sweep then queues the seat again and the repeated call finds what the first one made.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import selectinload

from portal.audit.services import Actor, record
from portal.db import db, utcnow
from portal.orders.models import Seat, SeatState
from portal.sealing import seal
from provisioning.adapters import adapter_name_for, get_adapter
from provisioning.adapters.base import (
    Account,
    AccountState,
    AdapterError,
    NotConfigured,
    ResetsPassword,
    SeatRequest,
    SeatUser,
)
from provisioning.lifecycle import IN_PROGRESS, Action, move, plan, result_state, wanted_user
from provisioning.models import AttemptOutcome, ProvisioningAttempt, SeatWork
from provisioning.redaction import redact
from provisioning.scheduling import schedule

SYSTEM = Actor.system("provisioning")
MAX_BACKOFF_SECONDS = 900
PENDING_POLL_SECONDS = 30.0


@dataclass(frozen=True)
class Claim:
    seat_id: int
    attempt_id: int
    lease_owner: str
    action: Action
    kind: str
    request: SeatRequest


@dataclass(frozen=True)
class Outcome:
    account: Account | None = None
    error: AdapterError | None = None


def idempotency_key(seat: Seat, action: Action) -> str:
    return f"seatmeter-seat-{seat.id}-{action.value}-r{seat.revision}"


def claim(seat_id: int, task_id: str | None = None) -> Claim | None:
    """Take the seat's lease and start its next step; None if another worker holds it or all is done."""
    now = utcnow()
    config = current_app.config
    owner = f"{(task_id or 'direct')[:40]}:{secrets.token_hex(6)}"
    lease_until = now + timedelta(seconds=config["PROVISIONING_LEASE_SECONDS"])
    # The seat's row first (locked until the commit on PostgreSQL, in the same order as a person's
    # change to the seat takes its locks), then the lease on its bookkeeping.
    seat = db.session.get(Seat, seat_id, populate_existing=True, with_for_update=True)
    if seat is None:
        return None
    if not _take_lease(seat_id, owner, lease_until, now):
        if db.session.get(SeatWork, seat_id) is not None:
            return None  # another worker holds it
        # A seat made without bookkeeping (none is, through provisioning.seats): start it now.
        db.session.add(SeatWork(seat_id=seat_id, attempt_count=0))
        db.session.flush()
        if not _take_lease(seat_id, owner, lease_until, now):
            return None
    work = SeatWork.reload(seat)
    assert work is not None
    action = plan(seat)
    if action is None:
        _release(work)
        work.sweep_after = None
        db.session.flush()
        return None
    db.session.execute(
        update(ProvisioningAttempt)
        .where(ProvisioningAttempt.seat_id == seat.id, ProvisioningAttempt.outcome == AttemptOutcome.RUNNING)
        .values(
            outcome=AttemptOutcome.ABANDONED,
            finished_at=now,
            error="The worker stopped before this attempt finished; a later attempt took it over.",
        )
        .execution_options(synchronize_session=False)
    )
    if action is Action.CREATE and wanted_user(seat) is not None:
        # From now on the account may exist for this person, so a crash is recovered by name.
        seat.account_end_user_id = seat.end_user_id
        seat.platform_user = wanted_user(seat)
    move(seat, IN_PROGRESS[action], now)
    # Should this worker die, the sweep takes the seat up again once the lease has lapsed.
    work.sweep_after = lease_until + timedelta(seconds=1)
    key = idempotency_key(seat, action)
    attempt = ProvisioningAttempt(
        seat_id=seat.id,
        client_id=seat.client_id,
        action=action.value,
        revision=seat.revision,
        idempotency_key=key,
        adapter=adapter_name_for(seat.product.kind),
        task_id=task_id,
        started_at=now,
    )
    db.session.add(attempt)
    db.session.flush()
    user = None
    if seat.end_user is not None and action is Action.CREATE and wanted_user(seat) is not None:
        user = SeatUser(email=seat.platform_user or "", display_name=seat.end_user.name)
    request = SeatRequest(
        seat_id=seat.id,
        client_ref=seat.client.ref,
        product_code=seat.product.code,
        idempotency_key=key,
        external_id=seat.external_id,
        account_user=seat.platform_user,
        user=user,
    )
    return Claim(seat.id, attempt.id, owner, action, seat.product.kind.value, request)


def _take_lease(seat_id: int, owner: str, until: datetime, now: datetime) -> bool:
    """Claim the seat for this worker unless another holds an unexpired lease (one statement)."""
    # An UPDATE answers a CursorResult, which has the rowcount; execute's hints say Result.
    taken = cast(
        CursorResult[Any],
        db.session.execute(
            update(SeatWork)
            .where(
                SeatWork.seat_id == seat_id,
                or_(SeatWork.lease_expires_at.is_(None), SeatWork.lease_expires_at < now),
            )
            .values(lease_owner=owner, lease_expires_at=until)
            .execution_options(synchronize_session=False)
        ),
    )
    return taken.rowcount == 1


def perform(claim: Claim) -> Outcome:
    """The platform call. No database transaction is open while it runs."""
    try:
        adapter = get_adapter(claim.kind)
        request = claim.request
        if claim.action is Action.CREATE:
            return Outcome(account=adapter.create(request))
        if claim.action is Action.UNASSIGN:
            return Outcome(account=adapter.unassign(request))
        if claim.action is Action.SUSPEND:
            return Outcome(account=adapter.suspend(request))
        if claim.action is Action.RESUME:
            return Outcome(account=adapter.resume(request))
        if claim.action is Action.RESET_PASSWORD:
            if not isinstance(adapter, ResetsPassword):
                raise AdapterError(f"{adapter.name} accounts have no password to reset.", retryable=False)
            return Outcome(account=adapter.reset_password(request))
        adapter.terminate(request)
        return Outcome()
    except NotConfigured as error:
        if claim.action in (Action.TERMINATE, Action.UNASSIGN) and claim.request.external_id is None:
            # Nothing was ever made on a platform that is not set up: nothing to remove.
            return Outcome()
        return Outcome(error=error)
    except AdapterError as error:
        return Outcome(error=error)


def finish(claim: Claim, outcome: Outcome) -> float | None:
    """Record the step's outcome; the backoff in seconds when it should be retried, else None."""
    # Write first: on PostgreSQL this locks the seat's row until the commit (a person's change to the
    # seat waits, and is then planned on top of this outcome); on SQLite it takes the write lock
    # before anything is read, so the transaction cannot lose its snapshot to another writer.
    # (The write changes nothing: it is there for its lock.)
    db.session.execute(
        update(Seat)
        .where(Seat.id == claim.seat_id)
        .values(state=Seat.state)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    seat = db.session.get(Seat, claim.seat_id)
    attempt = db.session.get(ProvisioningAttempt, claim.attempt_id)
    assert seat is not None and attempt is not None
    work = SeatWork.of(seat)
    now = utcnow()
    attempt.finished_at = now
    if work.lease_owner != claim.lease_owner:
        # This call outlived its lease and another worker took the seat over; its result counts.
        attempt.outcome = AttemptOutcome.ABANDONED
        attempt.error = "The call took longer than the lease; another attempt took the seat over."
        db.session.flush()
        return None
    _release(work)
    if outcome.account is not None and outcome.account.state is AccountState.PENDING:
        # Made, but the platform is still building it (a real WorkSpace takes minutes): look again
        # later without counting it as a failure.
        seat.external_id = outcome.account.external_id
        attempt.outcome = AttemptOutcome.RETRYING
        attempt.error = "The platform is still building the account; checking again shortly."
        work.next_attempt_at = now + timedelta(seconds=PENDING_POLL_SECONDS)
        work.sweep_after = work.next_attempt_at + timedelta(
            seconds=current_app.config["PROVISIONING_SWEEP_SECONDS"]
        )
        db.session.flush()
        return PENDING_POLL_SECONDS
    if outcome.error is None:
        _succeeded(seat, work, attempt, claim.action, outcome.account)
        return None
    error = outcome.error
    text = redact(f"{error.code}: {error.message}" if error.code else error.message)
    attempt.error = text
    max_attempts = current_app.config["PROVISIONING_MAX_ATTEMPTS"]
    if error.retryable and work.attempt_count + 1 < max_attempts:
        work.attempt_count += 1
        delay = backoff(work.attempt_count)
        work.next_attempt_at = now + timedelta(seconds=delay)
        work.sweep_after = work.next_attempt_at + timedelta(
            seconds=current_app.config["PROVISIONING_SWEEP_SECONDS"]
        )
        attempt.outcome = AttemptOutcome.RETRYING
        db.session.flush()
        return delay
    reason = redact(error.message)
    if error.retryable:
        reason = f"Gave up after {work.attempt_count + 1} attempts: {reason}"
    attempt.outcome = AttemptOutcome.FAILED
    previous = seat.state
    # Before the move, so that the seat.failed webhook carries the reason.
    seat.last_error = reason
    move(seat, SeatState.FAILED, now)
    work.sweep_after = None
    work.attempt_count = 0
    work.next_attempt_at = None
    db.session.flush()
    record(
        SYSTEM,
        "seat.failed",
        "seat",
        seat.id,
        client_id=seat.client_id,
        details={"action": claim.action.value, "from": previous.value, "reason": reason},
    )
    return None


def _succeeded(
    seat: Seat, work: SeatWork, attempt: ProvisioningAttempt, action: Action, account: Account | None
) -> None:
    attempt.outcome = AttemptOutcome.SUCCEEDED
    if action in (Action.UNASSIGN, Action.TERMINATE):
        seat.external_id = None
        seat.platform_user = None
        seat.account_end_user_id = None
    elif account is not None:
        if action is Action.CREATE and account.secret and seat.external_id is None:
            work.secret_ciphertext = seal(account.secret)
        if action is Action.RESET_PASSWORD and account.secret:
            # The new password replaces any older one not yet shown: only the new one works now.
            work.secret_ciphertext = seal(account.secret)
            work.secret_reset_wanted = False
        seat.external_id = account.external_id
    work.attempt_count = 0
    work.next_attempt_at = None
    seat.last_error = None
    previous = seat.state
    # If a person changed what is wanted while the call ran, the state already shows the step that
    # follows: it stays, and that step is queued below.
    target = result_state(seat, action) if seat.state is IN_PROGRESS[action] else seat.state
    move(seat, target)
    schedule(seat)  # the next step, if the client changed its mind meanwhile
    db.session.flush()
    if action is Action.RESET_PASSWORD:
        record(
            SYSTEM,
            "seat.password_changed",
            "seat",
            seat.id,
            client_id=seat.client_id,
            details={"external_id": seat.external_id},
        )
    if target is not previous:
        record(
            SYSTEM,
            f"seat.{target.value}",
            "seat",
            seat.id,
            client_id=seat.client_id,
            details={"action": action.value, "from": previous.value, "external_id": seat.external_id},
        )


def _release(work: SeatWork) -> None:
    work.lease_owner = None
    work.lease_expires_at = None


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter: about base·2^(n-1) seconds, spread over its upper half."""
    base = current_app.config["PROVISIONING_RETRY_BASE_SECONDS"]
    ceiling = min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # nosec B311  # retry jitter, not a secret


def sweep(limit: int = 1000) -> list[int]:
    """Queue again every seat whose step is overdue (lost message, killed worker). Their ids."""
    now = utcnow()
    # Seats and their bookkeeping in one query; attached, so schedule() loads nothing per seat.
    due = db.session.execute(
        select(Seat, SeatWork)
        .join(SeatWork, SeatWork.seat_id == Seat.id)
        .where(
            SeatWork.sweep_after.is_not(None),
            SeatWork.sweep_after <= now,
            Seat.state.not_in((SeatState.TERMINATED, SeatState.FAILED)),
        )
        .options(selectinload(Seat.product), selectinload(Seat.end_user))
        .order_by(SeatWork.sweep_after)
        .limit(limit)
    ).all()
    queued = []
    for seat, work in due:
        SeatWork.attach(seat, work)
        if work.lease_expires_at is not None and work.lease_expires_at > now:
            work.sweep_after = work.lease_expires_at + timedelta(seconds=1)
        elif schedule(seat):
            queued.append(seat.id)
    db.session.flush()
    return queued
