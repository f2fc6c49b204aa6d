"""Provisioning engine: seat lifecycle state machine, Celery tasks and platform adapters (issue 4).

The seat operations people ask for (assign, unassign, cancel, retry, suspend/resume a client) are
in ``portal.orders.services``; they record what is wanted and this package makes it happen.
"""

from provisioning.adapters.base import Account, AccountState, Adapter, AdapterError, SeatRequest, SeatUser
from provisioning.lifecycle import Action, IllegalTransition, grants, plan
from provisioning.models import AttemptOutcome, ProvisioningAttempt
from provisioning.scheduling import schedule
from provisioning.services import attempts_of, failed_seats, has_secret, recent_attempts, reveal_seat_secret

__all__ = [
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
    "attempts_of",
    "failed_seats",
    "grants",
    "has_secret",
    "plan",
    "recent_attempts",
    "reveal_seat_secret",
    "schedule",
]
