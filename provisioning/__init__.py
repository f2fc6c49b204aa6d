"""Provisioning engine: seat lifecycle state machine, Celery tasks and platform adapters (issue 4).

The seat operations (order, assign, unassign, cancel, retry, suspend/resume a client, and the
true-up's adopt / provision again / apply the portal's state) are in ``provisioning.seats``, the one
owner of a seat's desired state and revision; the workers here make what they record happen.

Outside provisioning (portal's views, forms, API and CLI, ``portal.models``, and metering), import
only the names below: ``from provisioning import place_order``. ``make lint`` (import-linter)
refuses an import of one of provisioning's modules from outside. Importing this package loads
metering (the lifecycle writes the licence ledger), never boto3 or ldap3: each adapter's library is
loaded when its platform is first built.
"""

from provisioning.adapters.base import Account, AccountState, Adapter, AdapterError, SeatRequest, SeatUser
from provisioning.lifecycle import NAMED_USER_KINDS, Action, IllegalTransition, grants, is_at_rest, plan
from provisioning.models import AttemptOutcome, ProvisioningAttempt, SeatWork
from provisioning.scheduling import schedule
from provisioning.seats import (
    MAX_SEATS_PER_ORDER,
    adopt_account_as_seat,
    assign_seat,
    cancel_seat,
    enforce_seat_state,
    place_order,
    record_past_seat,
    reprovision_seat,
    reset_sip_password,
    resume_client,
    retry_seat,
    suspend_client,
    unassign_seat,
)
from provisioning.services import (
    PhoneSignIn,
    attempts_of,
    failed_seats,
    has_secret,
    password_reset_pending,
    phone_sign_in,
    recent_attempts,
    removal_failing_since,
    reveal_seat_secret,
    still_authorized_before,
)
from provisioning.trueup.models import Finding, TrueupPolicy, TrueupRun
from provisioning.web import init_app

__all__ = [
    "MAX_SEATS_PER_ORDER",
    "NAMED_USER_KINDS",
    "Account",
    "AccountState",
    "Action",
    "Adapter",
    "AdapterError",
    "AttemptOutcome",
    "Finding",
    "IllegalTransition",
    "PhoneSignIn",
    "ProvisioningAttempt",
    "SeatRequest",
    "SeatUser",
    "SeatWork",
    "TrueupPolicy",
    "TrueupRun",
    "adopt_account_as_seat",
    "assign_seat",
    "attempts_of",
    "cancel_seat",
    "enforce_seat_state",
    "failed_seats",
    "grants",
    "has_secret",
    "init_app",
    "is_at_rest",
    "password_reset_pending",
    "phone_sign_in",
    "place_order",
    "plan",
    "recent_attempts",
    "record_past_seat",
    "removal_failing_since",
    "reprovision_seat",
    "reset_sip_password",
    "resume_client",
    "retry_seat",
    "reveal_seat_secret",
    "schedule",
    "still_authorized_before",
    "suspend_client",
    "unassign_seat",
]
