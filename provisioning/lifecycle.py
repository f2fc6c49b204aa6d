"""The seat lifecycle: which observed-state moves are legal, what the next step is, and the ledger.

A seat carries a desired state (what the client asked for) and an observed state (what the platform
is known to have). :func:`plan` looks at both and names the one platform action that brings them
closer; a worker performs it and :func:`move` records the new observed state. Every move re-derives
the licence ledger from the seat (see sync_ledger: counting follows the platform's access), in the
same transaction.
"""

from __future__ import annotations

import enum
from datetime import datetime

from flask import current_app

from metering import (
    close_seat_interval,
    open_seat_interval,
    open_seat_interval_of,
    open_seat_service_interval,
)
from portal.catalog.models import ProductKind
from portal.db import utcnow
from portal.errors import Conflict
from portal.orders.models import DesiredState, Seat, SeatState
from portal.webhooks_out.services import emit
from provisioning.models import SeatWork


class Action(enum.StrEnum):
    CREATE = "create"
    UNASSIGN = "unassign"
    SUSPEND = "suspend"
    RESUME = "resume"
    TERMINATE = "terminate"
    # A VoIP seat's extension gets a new SIP password (the client admin asked; the seat stays active).
    RESET_PASSWORD = "reset_password"  # nosec B105  # the name of a step, not a password


S = SeatState

# Legal moves of the observed state. PROVISIONING covers every change that creates, re-creates or
# removes the platform account (a first create, a reassignment, an unassignment).
TRANSITIONS: dict[SeatState, frozenset[SeatState]] = {
    S.ORDERED: frozenset({S.PROVISIONING, S.TERMINATING, S.TERMINATED, S.FAILED}),
    S.PROVISIONING: frozenset({S.ACTIVE, S.ORDERED, S.SUSPENDING, S.TERMINATING, S.TERMINATED, S.FAILED}),
    S.ACTIVE: frozenset({S.PROVISIONING, S.SUSPENDING, S.TERMINATING, S.FAILED}),
    S.SUSPENDING: frozenset({S.SUSPENDED, S.RESUMING, S.PROVISIONING, S.TERMINATING, S.FAILED}),
    S.SUSPENDED: frozenset({S.RESUMING, S.PROVISIONING, S.TERMINATING, S.FAILED}),
    S.RESUMING: frozenset({S.ACTIVE, S.SUSPENDING, S.PROVISIONING, S.TERMINATING, S.FAILED}),
    S.TERMINATING: frozenset({S.TERMINATED, S.FAILED}),
    S.TERMINATED: frozenset(),
    S.FAILED: frozenset({S.ORDERED, S.PROVISIONING, S.SUSPENDING, S.RESUMING, S.TERMINATING, S.TERMINATED}),
}

# The observed state while a worker performs an action, and the state it ends in.
IN_PROGRESS: dict[Action, SeatState] = {
    Action.CREATE: S.PROVISIONING,
    Action.UNASSIGN: S.PROVISIONING,
    Action.SUSPEND: S.SUSPENDING,
    Action.RESUME: S.RESUMING,
    Action.TERMINATE: S.TERMINATING,
    # The extension keeps working (and counting) while its password changes: no state in between.
    Action.RESET_PASSWORD: S.ACTIVE,
}

# The observed states a webhook announces (docs/webhooks.md), each time a seat enters one.
ANNOUNCED: dict[SeatState, str] = {
    S.ACTIVE: "seat.active",
    S.FAILED: "seat.failed",
    S.TERMINATED: "seat.terminated",
}

# Kinds whose platform account belongs to a named person: the seat waits in `ordered` until it is
# assigned, and a reassignment changes the account. A VoIP seat is an extension from the start.
NAMED_USER_KINDS = frozenset({ProductKind.DESKTOP, ProductKind.MAILBOX})

# Observed states no worker moves a seat on from: terminated for good, failed until a person
# retries or cancels it.
SETTLED = frozenset({S.TERMINATED, S.FAILED})

# The observed state each desired state comes to rest in: the platform has what is wanted.
RESTS_IN: dict[DesiredState, SeatState] = {
    DesiredState.ACTIVE: S.ACTIVE,
    DesiredState.SUSPENDED: S.SUSPENDED,
    DesiredState.TERMINATED: S.TERMINATED,
}


class IllegalTransition(Conflict):
    """The seat cannot move from its current state to the one asked for."""


def needs_named_user(seat: Seat) -> bool:
    return seat.product.kind in NAMED_USER_KINDS


def wanted_user(seat: Seat) -> str | None:
    """Whose account the platform should hold for this seat (lower-cased e-mail), if anyone's."""
    if seat.end_user is None or not needs_named_user(seat):
        return None
    return seat.end_user.email.strip().lower()


def password_reset_wanted(seat: Seat) -> bool:
    """The client admin asked for a new SIP password that the platform does not have yet."""
    work = SeatWork.find(seat)
    return work is not None and work.secret_reset_wanted


def may_have_account(seat: Seat) -> bool:
    """True unless the seat certainly has nothing on the platform.

    A seat that ever left `ordered` may have an account even without an external id: a worker can
    die after the platform created it and before the id was stored. Steps then look it up by name.
    """
    if seat.external_id is not None:
        return True
    return seat.state not in (S.ORDERED, S.TERMINATED)


def is_at_rest(seat: Seat) -> bool:
    """The one definition of "at rest": the seat reached what is wanted, or it is settled.

    The client's page shows such a seat as settled; the true-up compares only seats at rest (and
    not settled) with their accounts, since a seat still moving may be about to fix a difference.
    """
    return seat.state in SETTLED or seat.state is RESTS_IN[seat.desired_state]


def grants(seat: Seat) -> bool:
    """The platform confirms the seat's access (it is active): only this opens a ledger interval.

    For its end user; with nobody assigned (a VoIP extension works from the start) the seat is a
    working service, and its interval with nobody bills one unit of the product (docs/billing.md,
    "Licence counting rules").
    """
    return seat.state is S.ACTIVE


# Observed states in which a removal (suspend, cancel, unassign) was asked for or tried and the
# platform has not confirmed it: whoever could get in before may still get in, so they stay counted.
# FAILED is one of them: a seat whose removal fails keeps its access until a retry or a cancel is done.
REMOVAL_PENDING = frozenset({S.SUSPENDING, S.RESUMING, S.TERMINATING, S.FAILED})


def still_authorized(seat: Seat, end_user_id: int | None) -> bool:
    """May the platform still let ``end_user_id`` (None: the seat's service) in, though not confirmed?

    A desktop or mailbox lets in whoever its account is for (``account_end_user_id``), through the
    unassign step of an unassignment or reassignment too, until the platform confirms the account is
    gone. A VoIP extension belongs to the seat, not to a person: whoever holds it keeps it while a
    suspension or a cancellation is pending.
    """
    if needs_named_user(seat):
        in_flight = seat.state in REMOVAL_PENDING or seat.state is S.PROVISIONING
        return in_flight and end_user_id is not None and end_user_id == seat.account_end_user_id
    return seat.state in REMOVAL_PENDING and end_user_id == seat.end_user_id


def sync_ledger(seat: Seat, at: datetime | None = None) -> None:
    """Make the seat's open ledger interval follow the platform's access (idempotent).

    An interval opens when the platform confirms access (the seat is active: its end user, or nobody)
    and closes when the platform confirms that access is gone, not when the removal is asked for:
    while a removal is pending or failing the interval stays open (:func:`still_authorized`).
    """
    at = at or utcnow()
    current = open_seat_interval_of(seat)
    if current is not None:
        # Whom the open interval counts: a person, or nobody (the seat in service unassigned).
        holder = None if current.user_key is None else current.end_user_id
        keep = holder == seat.end_user_id if grants(seat) else still_authorized(seat, holder)
        if not keep:
            close_seat_interval(seat, at)
            current = None
    if current is None and grants(seat):
        platform = seat_platform(seat)
        if seat.end_user_id is None:
            open_seat_service_interval(seat, at, platform)
        else:
            open_seat_interval(seat, at, platform)


def seat_platform(seat: Seat) -> str | None:
    """The adapter that gives the seat its access now: the placement its interval is held on."""
    adapters: dict[str, str] = current_app.config.get("PROVISIONING_ADAPTERS") or {}
    name = adapters.get(str(seat.product.kind))
    return None if name in (None, "none") else name


def access_gone(seat: Seat, at: datetime) -> None:
    """The platform shows the seat's access is gone (its account is missing or disabled): stop counting.

    For the true-up, which finds it on the platform; the workers' steps confirm through :func:`move`.
    """
    close_seat_interval(seat, at)


def move(seat: Seat, to: SeatState, at: datetime | None = None) -> None:
    """Change the observed state (raising IllegalTransition) and bring the ledger in line."""
    at = at or utcnow()
    if to is not seat.state:
        if to not in TRANSITIONS[seat.state]:
            raise IllegalTransition(
                f"Seat #{seat.id} cannot go from {seat.state.value} to {to.value}.",
            )
        seat.state = to
        seat.state_changed_at = at
        if to is S.ACTIVE and seat.activated_at is None:
            seat.activated_at = at
        if to is S.TERMINATED:
            seat.terminated_at = at
            SeatWork.of(seat).sweep_after = None
        if to in ANNOUNCED:
            _announce(seat, ANNOUNCED[to], at)
    sync_ledger(seat, at)


def _announce(seat: Seat, event_type: str, at: datetime) -> None:
    """The outgoing webhook of an observed-state change, recorded in the same transaction."""
    emit(
        event_type,
        seat,
        lambda: {
            "seat_id": seat.id,
            "client_ref": seat.client.ref,
            "product": seat.product.code,
            "state": seat.state.value,
            "desired_state": seat.desired_state.value,
            "end_user": seat.end_user.email if seat.end_user is not None else None,
            "external_id": seat.external_id,
            "error": seat.last_error if seat.state is S.FAILED else None,
            "changed_at": at.isoformat(),
        },
        now=at,
    )


def plan(seat: Seat, *, reopening: bool = False) -> Action | None:
    """The next platform action for this seat, or None when it is at rest (or waits for a person).

    A failed seat waits for a person; ``reopening`` asks what a retry would do.
    """
    if seat.state is S.TERMINATED or (seat.state is S.FAILED and not reopening):
        return None
    account = may_have_account(seat)
    if seat.desired_state is DesiredState.TERMINATED:
        return Action.TERMINATE if account else None
    if needs_named_user(seat):
        user = wanted_user(seat)
        if user is None:
            return Action.UNASSIGN if account else None
        if not account:
            return Action.CREATE if seat.desired_state is DesiredState.ACTIVE else None
        if seat.account_end_user_id is not None and seat.account_end_user_id != seat.end_user_id:
            return Action.UNASSIGN  # then CREATE for the new person
        if seat.account_end_user_id is None:
            # Whatever is there is found by name, or created for this person.
            return Action.CREATE if seat.desired_state is DesiredState.ACTIVE else None
    elif not account:
        return Action.CREATE if seat.desired_state is DesiredState.ACTIVE else None
    if seat.desired_state is DesiredState.SUSPENDED:
        return None if seat.state is S.SUSPENDED else Action.SUSPEND
    if seat.state is S.ACTIVE:
        return Action.RESET_PASSWORD if password_reset_wanted(seat) else None
    if seat.state in (S.SUSPENDED, S.SUSPENDING, S.RESUMING):
        return Action.RESUME
    return Action.CREATE  # ordered/provisioning with an account: make sure it exists and is enabled


def result_state(seat: Seat, action: Action) -> SeatState:
    """Where a seat stands once ``action`` succeeded on the platform."""
    if action is Action.TERMINATE:
        return S.TERMINATED
    if action is Action.UNASSIGN:
        if seat.desired_state is DesiredState.TERMINATED:
            return S.TERMINATED
        if seat.end_user_id is not None and seat.desired_state is DesiredState.ACTIVE:
            return S.PROVISIONING  # the new person's account comes next
        return S.ORDERED
    if action is Action.SUSPEND:
        return S.SUSPENDED
    # CREATE / RESUME leave the account enabled. If the client changed its mind meanwhile
    # (suspend, cancel, another person), the seat stays in progress and the next step follows; it
    # never shows (or bills) as active for a moment in between.
    if seat.desired_state is not DesiredState.ACTIVE or (
        needs_named_user(seat) and seat.account_end_user_id != seat.end_user_id
    ):
        return IN_PROGRESS[action]
    return S.ACTIVE


def show_next_step(seat: Seat) -> None:
    """After a person changed what is wanted: show the step to come, and settle what needs no call.

    Called by the seat operations (provisioning.seats) in the same transaction; it asks no worker
    for anything (scheduling does). A seat with nothing on the platform is cancelled at once;
    otherwise the observed state becomes the in-progress state of the next action. The ledger keeps
    counting whoever may still get in until the platform confirms the removal (see sync_ledger).
    """
    if seat.state in SETTLED:
        return
    if seat.desired_state is DesiredState.TERMINATED and not may_have_account(seat):
        move(seat, S.TERMINATED)
        return
    action = plan(seat)
    if action is None or (action is Action.CREATE and seat.state is S.ORDERED):
        sync_ledger(seat)
        return
    move(seat, IN_PROGRESS[action])


def reopen(seat: Seat) -> None:
    """A failed seat tries again from where it stands (a retry or a cancel from the failed queue)."""
    if seat.state is not S.FAILED:
        raise IllegalTransition(f"Seat #{seat.id} has not failed; there is nothing to retry.")
    seat.last_error = None
    work = SeatWork.of(seat)
    work.attempt_count = 0
    work.next_attempt_at = None
    action = plan(seat, reopening=True)
    if action is not None:
        move(seat, IN_PROGRESS[action])
    elif seat.desired_state is DesiredState.TERMINATED:
        move(seat, S.TERMINATED)
    else:
        move(seat, S.ORDERED)
