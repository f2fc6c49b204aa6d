"""Provisioning engine: seat lifecycle state machine, Celery tasks and platform adapters (issue 4).

The seat operations (order, assign, unassign, cancel, retry, suspend/resume a client, and the
true-up's adopt / provision again / apply the portal's state) are in ``provisioning.seats``, the one
owner of a seat's desired state and revision; the workers here make what they record happen.
"""

from provisioning.adapters.base import Account, AccountState, Adapter, AdapterError, SeatRequest, SeatUser
from provisioning.lifecycle import Action, IllegalTransition, grants, plan
from provisioning.models import AttemptOutcome, ProvisioningAttempt
from provisioning.scheduling import schedule
from provisioning.seats import (
    MAX_SEATS_PER_ORDER,
    adopt_account_as_seat,
    assign_seat,
    cancel_seat,
    enforce_seat_state,
    place_order,
    reprovision_seat,
    resume_client,
    retry_seat,
    suspend_client,
    unassign_seat,
)
from provisioning.services import (
    attempts_of,
    failed_seats,
    has_secret,
    recent_attempts,
    removal_failing_since,
    reveal_seat_secret,
)

__all__ = [
    "MAX_SEATS_PER_ORDER",
    "Account",
    "AccountState",
    "Action",
    "Adapter",
    "AdapterError",
    "AttemptOutcome",
    "IllegalTransition",
    "ProvisioningAttempt",
    "SeatRequest",
    "SeatUser",
    "adopt_account_as_seat",
    "assign_seat",
    "attempts_of",
    "cancel_seat",
    "enforce_seat_state",
    "failed_seats",
    "grants",
    "has_secret",
    "place_order",
    "plan",
    "recent_attempts",
    "removal_failing_since",
    "reprovision_seat",
    "resume_client",
    "retry_seat",
    "reveal_seat_secret",
    "schedule",
    "suspend_client",
    "unassign_seat",
]
