"""The seat operations of provisioning.seats: what is wanted, the state shown, the ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from metering.ledger.models import LedgerInterval
from portal.catalog.services import get_product
from portal.db import db, utcnow
from portal.errors import Conflict, NotFound
from portal.orders.models import DesiredState, Seat, SeatState
from provisioning import (
    adopt_account_as_seat,
    assign_seat,
    cancel_seat,
    enforce_seat_state,
    reprovision_seat,
    resume_client,
    retry_seat,
    suspend_client,
    unassign_seat,
)
from provisioning.lifecycle import IllegalTransition, move
from provisioning.models import SeatWork
from tests.provisioning.conftest import ACTOR, order, run_steps


def intervals(seat):
    return list(
        db.session.scalars(
            select(LedgerInterval).where(LedgerInterval.seat_id == seat.id).order_by(LedgerInterval.id)
        )
    )


def test_new_voip_seat_is_queued_at_once_but_an_unassigned_desktop_waits(acme):
    voip = order(acme, "voip").seats[0]
    desktop = order(acme, "desktop").seats[0]

    assert voip.state is SeatState.ORDERED and SeatWork.of(voip).sweep_after is not None
    assert desktop.state is SeatState.ORDERED and SeatWork.of(desktop).sweep_after is None


def test_voip_seat_is_an_extension_in_service_from_the_start_then_bills_its_person(
    acme, person, local_kamailio
):
    seat = order(acme, "voip").seats[0]

    assert run_steps(seat) == ["create"]
    assert seat.state is SeatState.ACTIVE
    assert seat.external_id == f"{1000 + seat.id}@acme.seats.test"
    # In service with nobody assigned: no licence, but the working extension bills one unit.
    assert [(i.user_key, i.stop_at) for i in intervals(seat)] == [(None, None)]

    alice = person("alice")
    assign_seat(ACTOR, seat, alice)
    db.session.commit()
    people = [i for i in intervals(seat) if i.user_key is not None]
    assert [(i.user_key, i.stop_at) for i in people] == [("alice@acme.example", None)]
    assert all(i.stop_at is not None for i in intervals(seat) if i.user_key is None)
    assert run_steps(seat) == []  # the binding is Seatmeter's: nothing to do at the registrar

    bob = person("bob")
    assign_seat(ACTOR, seat, bob)
    db.session.commit()
    rows = [i for i in intervals(seat) if i.user_key is not None]
    assert [i.user_key for i in rows] == ["alice@acme.example", "bob@acme.example"]
    assert rows[0].stop_at is not None and rows[1].stop_at is None


def test_desktop_reassignment_keeps_the_old_person_counted_until_the_account_is_removed(acme, person):
    alice, bob = person("alice"), person("bob")
    seat = order(acme, "desktop", 1, [alice]).seats[0]
    # As if a worker had made the WorkSpace for Alice.
    seat.account_end_user_id, seat.platform_user, seat.external_id = alice.id, alice.email, "ws-1"
    move(seat, SeatState.PROVISIONING)
    move(seat, SeatState.ACTIVE)
    db.session.commit()
    assert [i.user_key for i in intervals(seat)] == ["alice@acme.example"]

    assign_seat(ACTOR, seat, bob)
    db.session.commit()

    assert seat.state is SeatState.PROVISIONING  # Alice's WorkSpace goes, Bob's comes
    (still_open,) = intervals(seat)
    # Alice can log in until the workers have removed her WorkSpace; Bob counts once his is active.
    assert (still_open.user_key, still_open.stop_at) == ("alice@acme.example", None)


def test_suspend_and_resume_client(acme, person, local_kamailio):
    alice = person("alice")
    seat = order(acme, "voip", 1, [alice]).seats[0]
    run_steps(seat)
    assert seat.state is SeatState.ACTIVE and intervals(seat)[0].stop_at is None

    suspend_client(ACTOR, acme, "unpaid invoice")
    db.session.commit()
    assert (seat.desired_state, seat.state) == (DesiredState.SUSPENDED, SeatState.SUSPENDING)
    assert intervals(seat)[0].stop_at is None  # asked, not done: the extension still works
    assert run_steps(seat) == ["suspend"]
    assert seat.state is SeatState.SUSPENDED
    assert intervals(seat)[0].stop_at is not None
    with pytest.raises(Conflict):
        assign_seat(ACTOR, seat, person("bob"))

    resume_client(ACTOR, acme)
    db.session.commit()
    assert run_steps(seat) == ["resume"]
    assert seat.state is SeatState.ACTIVE
    assert [i.stop_at is None for i in intervals(seat)] == [False, True]


def test_cancel_an_unprovisioned_seat_needs_no_worker(acme, person):
    seat = order(acme, "desktop").seats[0]
    cancel_seat(ACTOR, seat)
    db.session.commit()
    assert seat.state is SeatState.TERMINATED and SeatWork.of(seat).sweep_after is None
    with pytest.raises(Conflict, match="cancelled"):
        cancel_seat(ACTOR, seat)
    with pytest.raises(Conflict, match="cancelled"):
        assign_seat(ACTOR, seat, person("alice"))


def test_unconfigured_desktops_fail_with_a_plain_reason_and_can_be_cancelled(acme, person):
    seat = order(acme, "desktop", 1, [person("alice")]).seats[0]

    assert run_steps(seat) == ["create"]
    assert seat.state is SeatState.FAILED
    assert "not configured" in seat.last_error and "WORKSPACES_DIRECTORY_ID" in seat.last_error
    assert intervals(seat) == []

    retry_seat(ACTOR, seat)
    db.session.commit()
    assert seat.state is SeatState.PROVISIONING and seat.last_error is None
    run_steps(seat)
    assert seat.state is SeatState.FAILED

    cancel_seat(ACTOR, seat)
    db.session.commit()
    assert run_steps(seat) == ["terminate"]
    assert seat.state is SeatState.TERMINATED


def test_other_clients_end_user_is_not_found(acme, make_client, person):
    other = make_client("other")
    stranger = person("eve", other)
    seat = order(acme, "voip").seats[0]
    with pytest.raises(NotFound):
        assign_seat(ACTOR, seat, stranger)


def test_one_desktop_per_person(acme, person):
    alice = person("alice")
    order(acme, "desktop", 1, [alice])
    seat = order(acme, "desktop-pro").seats[0]
    with pytest.raises(Conflict, match="already has a desktop seat"):
        assign_seat(ACTOR, seat, alice)


def test_illegal_operations_conflict(acme, person):
    seat = order(acme, "desktop").seats[0]
    with pytest.raises(Conflict):
        unassign_seat(ACTOR, seat)  # nobody holds it
    with pytest.raises(Conflict):
        retry_seat(ACTOR, seat)  # it has not failed
    with pytest.raises(IllegalTransition):
        move(seat, SeatState.SUSPENDED)


# --- The true-up's seat operations -------------------------------------------------------------------


def test_an_adopted_account_is_an_active_seat_of_its_person_from_now(acme, person):
    alice = person("alice")
    now = utcnow()

    seat = adopt_account_as_seat(
        ACTOR,
        acme,
        get_product("desktop"),
        alice,
        external_id="ws-9",
        user_key="alice@acme.example",
        enabled=True,
        now=now,
    )
    db.session.commit()

    assert (seat.state, seat.desired_state, seat.revision) == (SeatState.ACTIVE, DesiredState.ACTIVE, 1)
    assert (seat.external_id, seat.account_end_user_id, seat.platform_user) == (
        "ws-9",
        alice.id,
        "alice@acme.example",
    )
    assert SeatWork.of(seat).sweep_after is None  # nothing for the workers to do
    assert [(i.user_key, i.start_at, i.stop_at) for i in intervals(seat)] == [
        ("alice@acme.example", now, None)
    ]


def test_an_adopted_disabled_account_is_enabled_again_by_the_workers(acme, person):
    alice = person("alice")

    seat = adopt_account_as_seat(
        ACTOR,
        acme,
        get_product("desktop"),
        alice,
        external_id="ws-9",
        user_key="alice@acme.example",
        enabled=False,
        now=utcnow(),
    )
    db.session.commit()

    assert (seat.state, seat.revision) == (SeatState.RESUMING, 2)
    assert SeatWork.of(seat).sweep_after is not None
    assert intervals(seat) == []  # billed from when the workers have enabled the account


def test_enforcing_a_suspended_seat_suspends_its_account_again(acme, person, local_kamailio):
    seat = order(acme, "voip", 1, [person("alice")]).seats[0]
    run_steps(seat)
    suspend_client(ACTOR, acme, "unpaid invoice")
    db.session.commit()
    run_steps(seat)
    assert seat.state is SeatState.SUSPENDED
    revision = seat.revision

    enforce_seat_state(seat, utcnow())
    db.session.commit()

    assert (seat.state, seat.revision) == (SeatState.SUSPENDING, revision + 1)
    assert run_steps(seat) == ["suspend"]
    assert seat.state is SeatState.SUSPENDED


def test_a_seat_whose_account_is_gone_is_provisioned_again(acme, person, local_kamailio):
    seat = order(acme, "voip", 1, [person("alice")]).seats[0]
    run_steps(seat)
    revision = seat.revision

    reprovision_seat(seat, utcnow())
    db.session.commit()

    assert (seat.state, seat.external_id, seat.revision) == (SeatState.PROVISIONING, None, revision + 1)
    assert intervals(seat)[-1].stop_at is not None  # billing pauses until the account is back
    assert run_steps(seat) == ["create"]
    assert seat.state is SeatState.ACTIVE and seat.external_id is not None


def test_a_seat_loaded_with_its_product_and_person_joined_can_still_be_changed(acme, person):
    # Pages load seats with their product and person joined (LEFT OUTER JOIN); the seat operations
    # lock the seat's row afterwards, and PostgreSQL refuses FOR UPDATE over the outer join's
    # nullable side unless the lock names the seats table alone.
    placed = order(acme, "voip", 1, [person("Alice")])
    seat_id = placed.seats[0].id
    db.session.expunge_all()
    seat = db.session.scalars(
        select(Seat).where(Seat.id == seat_id).options(joinedload(Seat.product), joinedload(Seat.end_user))
    ).one()

    cancel_seat(ACTOR, seat)
    db.session.commit()

    assert seat.desired_state is DesiredState.TERMINATED
