"""The state machine, the next step plan() names for every state, and the redaction of errors."""

from __future__ import annotations

import pytest

from portal.accounts.models import EndUser
from portal.catalog.models import Product, ProductKind
from portal.orders.models import DesiredState, Seat, SeatState
from provisioning.lifecycle import SETTLED, TRANSITIONS, Action, plan
from provisioning.models import SeatWork
from provisioning.redaction import REDACTED, redact


def test_every_state_has_its_moves_and_terminated_is_final():
    assert set(TRANSITIONS) == set(SeatState)
    assert TRANSITIONS[SeatState.TERMINATED] == frozenset()
    # Every non-final state can fail, and every failure can be retried or cancelled.
    assert all(SeatState.FAILED in TRANSITIONS[s] for s in SeatState if s not in SETTLED)
    assert {SeatState.PROVISIONING, SeatState.TERMINATING} <= TRANSITIONS[SeatState.FAILED]
    # Nothing becomes active without a worker having acted on the platform.
    assert [s for s in SeatState if SeatState.ACTIVE in TRANSITIONS[s]] == [
        SeatState.PROVISIONING,
        SeatState.RESUMING,
    ]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('CreateUser failed: {"Password": "Hunter2-secret"}', "Hunter2-secret"),
        ("password=hunter2 rest", "hunter2"),
        (
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIAABCDEFGHIJKLMNOP/2024, Signature=abc",
            "Signature=abc",
        ),
        ("could not connect to postgresql://kam:s3cr3t@db.colo/kamailio", "s3cr3t"),
        ("key AKIAABCDEFGHIJKLMNOP leaked", "AKIAABCDEFGHIJKLMNOP"),
        ("Bearer sm_live_abcdef123", "sm_live_abcdef123"),
    ],
)
def test_secrets_are_redacted(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned and REDACTED in cleaned


def test_known_secret_values_are_redacted_anywhere():
    assert redact("the phone says xyz-123-abc", "xyz-123-abc") == f"the phone says {REDACTED}"


# --- plan(): the next platform action for every (observed, desired) pair ------------------------------
#
# Each row is one observed state; its three cells are the expected action for a seat that wants to
# be active, suspended and terminated, in that order. The tables are written out by hand from the
# rules (a seat with nothing on the platform is created, or left alone; a named-user account that
# belongs to nobody, or to someone else, is removed first; then suspend/resume/enable as wanted).
C, U, SU, RE, TE, NO = Action.CREATE, Action.UNASSIGN, Action.SUSPEND, Action.RESUME, Action.TERMINATE, None
S = SeatState
Row = tuple[Action | None, Action | None, Action | None]
Table = dict[SeatState, Row]
DESIRED = (DesiredState.ACTIVE, DesiredState.SUSPENDED, DesiredState.TERMINATED)

# An account whose owner is (or needs no owner) as wanted: the state decides.
_SETTLED_ACCOUNT: Table = {
    S.PROVISIONING: (C, SU, TE),
    S.ACTIVE: (NO, SU, TE),
    S.SUSPENDING: (RE, SU, TE),
    S.SUSPENDED: (RE, NO, TE),
    S.RESUMING: (RE, SU, TE),
    S.TERMINATING: (C, SU, TE),
    S.TERMINATED: (NO, NO, NO),
    S.FAILED: (NO, NO, NO),  # waits for a person
}
# An account that must go before anything else: nobody holds the seat, or someone else's account.
_ACCOUNT_TO_REMOVE: Table = {
    S.PROVISIONING: (U, U, TE),
    S.ACTIVE: (U, U, TE),
    S.SUSPENDING: (U, U, TE),
    S.SUSPENDED: (U, U, TE),
    S.RESUMING: (U, U, TE),
    S.TERMINATING: (U, U, TE),
    S.TERMINATED: (NO, NO, NO),
    S.FAILED: (NO, NO, NO),
}
# A named person's seat whose account was never tied to anyone: it is created (found by name) for
# them, or left alone when not wanted active.
_ACCOUNT_UNCLAIMED: Table = {
    S.PROVISIONING: (C, NO, TE),
    S.ACTIVE: (C, NO, TE),
    S.SUSPENDING: (C, NO, TE),
    S.SUSPENDED: (C, NO, TE),
    S.RESUMING: (C, NO, TE),
    S.TERMINATING: (C, NO, TE),
    S.TERMINATED: (NO, NO, NO),
    S.FAILED: (NO, NO, NO),
}

# (kind, who holds the seat, whose account it is, external id known) → its table. "Without an
# account" (no external id) matters only while ordered: any later state may have made one.
PLAN_TABLES: dict[str, Table] = {
    "voip, no external id": {S.ORDERED: (C, NO, NO), **_SETTLED_ACCOUNT},
    "voip, external id": {S.ORDERED: (C, SU, TE), **_SETTLED_ACCOUNT},
    "voip assigned, no external id": {S.ORDERED: (C, NO, NO), **_SETTLED_ACCOUNT},
    "voip assigned, external id": {S.ORDERED: (C, SU, TE), **_SETTLED_ACCOUNT},
    "desktop unassigned, no external id": {S.ORDERED: (NO, NO, NO), **_ACCOUNT_TO_REMOVE},
    "desktop unassigned, external id": {S.ORDERED: (U, U, TE), **_ACCOUNT_TO_REMOVE},
    "desktop assigned, own account, no external id": {S.ORDERED: (C, NO, NO), **_SETTLED_ACCOUNT},
    "desktop assigned, own account, external id": {S.ORDERED: (C, SU, TE), **_SETTLED_ACCOUNT},
    "desktop reassigned, no external id": {S.ORDERED: (C, NO, NO), **_ACCOUNT_TO_REMOVE},
    "desktop reassigned, external id": {S.ORDERED: (U, U, TE), **_ACCOUNT_TO_REMOVE},
    "desktop assigned, unclaimed, no external id": {S.ORDERED: (C, NO, NO), **_ACCOUNT_UNCLAIMED},
    "desktop assigned, unclaimed, external id": {S.ORDERED: (C, NO, TE), **_ACCOUNT_UNCLAIMED},
}

# What a retry of a failed seat would do (plan(reopening=True)): as the in-progress states do.
REOPENING: dict[str, Row] = {
    "voip, no external id": (C, SU, TE),
    "voip, external id": (C, SU, TE),
    "voip assigned, no external id": (C, SU, TE),
    "voip assigned, external id": (C, SU, TE),
    "desktop unassigned, no external id": (U, U, TE),
    "desktop unassigned, external id": (U, U, TE),
    "desktop assigned, own account, no external id": (C, SU, TE),
    "desktop assigned, own account, external id": (C, SU, TE),
    "desktop reassigned, no external id": (U, U, TE),
    "desktop reassigned, external id": (U, U, TE),
    "desktop assigned, unclaimed, no external id": (C, NO, TE),
    "desktop assigned, unclaimed, external id": (C, NO, TE),
}

ALICE, BOB = 1, 2


def _seat(case: str, state: SeatState, desired: DesiredState) -> Seat:
    """A seat (never stored) set up as the case's name says."""
    kind = ProductKind.VOIP if case.startswith("voip") else ProductKind.DESKTOP
    holder = None if "unassigned" in case or case.startswith("voip,") else ALICE
    owner = {"own account": ALICE, "reassigned": BOB}
    account_of = next((who for words, who in owner.items() if words in case), None)
    end_user = (
        EndUser(id=holder, client_id=1, name="Alice Ward", email="Alice@acme.example") if holder else None
    )
    return Seat(
        id=7,
        state=state,
        desired_state=desired,
        product=Product(kind=kind),
        end_user=end_user,
        end_user_id=holder,
        account_end_user_id=account_of if kind is ProductKind.DESKTOP else None,
        external_id="acct-1" if "no external id" not in case else None,
    )


def test_the_tables_cover_every_observed_and_desired_state():
    assert set(PLAN_TABLES) == set(REOPENING)
    assert all(set(table) == set(SeatState) for table in PLAN_TABLES.values())


@pytest.mark.parametrize(
    ("case", "state", "desired", "expected"),
    [
        pytest.param(case, state, desired, row[i], id=f"{case}: {state.value} wanting {desired.value}")
        for case, table in PLAN_TABLES.items()
        for state, row in table.items()
        for i, desired in enumerate(DESIRED)
    ],
)
def test_plan_names_the_next_action(case, state, desired, expected):
    assert plan(_seat(case, state, desired)) is expected


@pytest.mark.parametrize(
    ("case", "desired", "expected"),
    [
        pytest.param(case, desired, row[i], id=f"{case}: retry wanting {desired.value}")
        for case, row in REOPENING.items()
        for i, desired in enumerate(DESIRED)
    ],
)
def test_plan_for_a_retry_of_a_failed_seat(case, desired, expected):
    assert plan(_seat(case, SeatState.FAILED, desired), reopening=True) is expected


@pytest.mark.parametrize(
    ("state", "desired", "expected"),
    [
        # Only a working extension gets its new password; a suspension or a cancellation comes first.
        (SeatState.ACTIVE, DesiredState.ACTIVE, Action.RESET_PASSWORD),
        (SeatState.ACTIVE, DesiredState.SUSPENDED, Action.SUSPEND),
        (SeatState.SUSPENDED, DesiredState.ACTIVE, Action.RESUME),
        (SeatState.SUSPENDED, DesiredState.SUSPENDED, None),
        (SeatState.ACTIVE, DesiredState.TERMINATED, Action.TERMINATE),
    ],
)
def test_a_wanted_password_reset_is_planned_once_the_extension_works(state, desired, expected):
    seat = _seat("voip, external id", state, desired)
    SeatWork.of(seat).secret_reset_wanted = True

    assert plan(seat) is expected
