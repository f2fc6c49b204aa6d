"""The engine in-process: leases, abandoned attempts, backoff and giving up, the sweep, a password reset."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, event, select, text

from metering.ledger.models import LedgerInterval
from portal.audit.models import AuditEvent
from portal.db import db, utcnow
from portal.orders.models import SeatState
from provisioning import cancel_seat, engine, reset_sip_password, retry_seat, reveal_seat_secret
from provisioning.models import AttemptOutcome, ProvisioningAttempt, SeatWork
from tests.provisioning.conftest import ACTOR, order, run_steps


def attempts(seat):
    rows = db.session.scalars(
        select(ProvisioningAttempt)
        .where(ProvisioningAttempt.seat_id == seat.id)
        .order_by(ProvisioningAttempt.id)
    )
    return [(a.action, a.outcome, a.error) for a in rows]


def test_a_leased_seat_is_left_alone_and_a_dead_workers_attempt_is_taken_over(app, acme, local_kamailio):
    seat = order(acme, "voip").seats[0]
    first = engine.claim(seat.id, "task-1")
    db.session.commit()
    assert first is not None and seat.state is SeatState.PROVISIONING

    assert engine.claim(seat.id, "task-2") is None  # another worker holds the lease

    # The first worker dies; its lease lapses.
    SeatWork.of(seat).lease_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    second = engine.claim(seat.id, "task-3")
    db.session.commit()
    assert second is not None and second.request.idempotency_key == first.request.idempotency_key
    engine.finish(second, engine.perform(second))
    db.session.commit()

    assert seat.state is SeatState.ACTIVE
    assert [(action, outcome) for action, outcome, _ in attempts(seat)] == [
        ("create", AttemptOutcome.ABANDONED),
        ("create", AttemptOutcome.SUCCEEDED),
    ]
    # The dead worker's late answer changes nothing.
    assert engine.finish(first, engine.perform(first)) is None
    db.session.commit()
    assert attempts(seat)[0][1] is AttemptOutcome.ABANDONED


def test_retryable_errors_back_off_then_give_up(app, acme, tmp_path):
    # A Kamailio database that cannot be opened: a retryable error, every time.
    app.config["KAMAILIO_DB_URL"] = f"sqlite:///{tmp_path / 'missing' / 'kamailio.sqlite'}"
    app.config["PROVISIONING_MAX_ATTEMPTS"] = 3
    app.config["PROVISIONING_RETRY_BASE_SECONDS"] = 4
    app.extensions.pop("seatmeter.adapters", None)
    seat = order(acme, "voip").seats[0]

    delays = []
    for _ in range(3):
        claim = engine.claim(seat.id, "t")
        db.session.commit()
        delays.append(engine.finish(claim, engine.perform(claim)))
        db.session.commit()
        SeatWork.of(seat).next_attempt_at = None

    assert 2 <= delays[0] <= 4 and 4 <= delays[1] <= 8 and delays[2] is None
    assert seat.state is SeatState.FAILED
    assert seat.last_error.startswith("Gave up after 3 attempts: Kamailio database unavailable")
    assert [outcome for _, outcome, _ in attempts(seat)] == [
        AttemptOutcome.RETRYING,
        AttemptOutcome.RETRYING,
        AttemptOutcome.FAILED,
    ]


def test_sweep_requeues_overdue_seats_only(app, acme, local_kamailio):
    overdue, fresh, leased = order(acme, "voip", 3).seats
    now = utcnow()
    SeatWork.of(overdue).sweep_after = now - timedelta(seconds=1)
    SeatWork.of(leased).sweep_after = now - timedelta(seconds=1)
    SeatWork.of(leased).lease_expires_at = now + timedelta(seconds=30)
    db.session.commit()

    assert engine.sweep() == [overdue.id]
    db.session.commit()
    assert SeatWork.of(overdue).sweep_after > now  # not queued again at the next sweep
    leased_work = SeatWork.of(leased)
    assert leased_work.sweep_after > leased_work.lease_expires_at  # looked at again once the lease lapses
    assert SeatWork.of(fresh).sweep_after > now


def test_nothing_to_do_clears_the_sweep_deadline(app, acme, local_kamailio):
    seat = order(acme, "voip").seats[0]
    run_steps(seat)
    SeatWork.of(seat).sweep_after = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert engine.sweep() == []
    db.session.commit()
    assert SeatWork.of(seat).sweep_after is None


@pytest.mark.parametrize("attempt", [1, 3, 10, 30])
def test_backoff_grows_with_jitter_and_a_ceiling(app, attempt):
    app.config["PROVISIONING_RETRY_BASE_SECONDS"] = 5
    ceiling = min(engine.MAX_BACKOFF_SECONDS, 5 * 2 ** (attempt - 1))
    delays = {engine.backoff(attempt) for _ in range(20)}
    assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(delays) > 1


def test_cancel_while_the_create_call_runs(app, acme, person, local_kamailio):
    seat = order(acme, "voip", 1, [person("alice")]).seats[0]
    claim = engine.claim(seat.id, "t")
    db.session.commit()
    outcome = engine.perform(claim)  # the extension now exists at the registrar

    cancel_seat(ACTOR, seat)  # meanwhile, the client cancels
    db.session.commit()
    assert seat.state is SeatState.TERMINATING
    engine.finish(claim, outcome)
    db.session.commit()
    assert seat.state is SeatState.TERMINATING and seat.external_id  # never shown (or billed) active

    assert run_steps(seat) == ["terminate"]
    assert seat.state is SeatState.TERMINATED
    assert db.session.scalars(select(LedgerInterval).where(LedgerInterval.seat_id == seat.id)).all() == []


def test_the_sweep_reads_a_fixed_number_of_queries_however_many_seats_are_due(app, acme, local_kamailio):
    def statements_to_sweep(seats: int) -> int:
        due = order(acme, "voip", seats).seats
        for seat in due:
            SeatWork.of(seat).sweep_after = utcnow() - timedelta(seconds=1)
        db.session.commit()
        statements = []
        listen = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            assert len(engine.sweep()) == seats
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
        db.session.commit()
        return sum(1 for statement in statements if statement.lstrip().upper().startswith("SELECT"))

    assert statements_to_sweep(2) == statements_to_sweep(12)


def _subscriber_password(url: str, external_id: str) -> str | None:
    username, domain = external_id.split("@")
    with create_engine(url).connect() as conn:
        return conn.execute(
            text("SELECT password FROM subscriber WHERE username = :u AND domain = :d"),
            {"u": username, "d": domain},
        ).scalar()


def test_a_password_reset_keeps_the_seat_active_and_counted(app, acme, local_kamailio):
    seat = order(acme, "voip").seats[0]
    run_steps(seat)
    first = reveal_seat_secret(ACTOR, seat)
    db.session.commit()
    intervals = db.session.scalars(select(LedgerInterval).where(LedgerInterval.seat_id == seat.id)).all()

    reset_sip_password(ACTOR, seat)
    db.session.commit()
    steps = run_steps(seat)

    assert steps == ["reset_password"]
    assert seat.state is SeatState.ACTIVE
    assert not SeatWork.of(seat).secret_reset_wanted
    new = reveal_seat_secret(ACTOR, seat)
    assert new and new != first
    assert _subscriber_password(local_kamailio, seat.external_id) == new
    # The extension never stopped working: the same ledger interval, still open.
    after = db.session.scalars(select(LedgerInterval).where(LedgerInterval.seat_id == seat.id)).all()
    assert [(i.id, i.stop_at) for i in after] == [(i.id, None) for i in intervals]
    assert len(intervals) == 1
    changed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "seat.password_changed")).one()
    assert (changed.object_id, changed.actor) == (str(seat.id), engine.SYSTEM.label)


def test_a_reset_of_a_vanished_extension_fails_and_a_retry_makes_it_with_a_new_password(
    app, acme, local_kamailio
):
    seat = order(acme, "voip").seats[0]
    run_steps(seat)
    reveal_seat_secret(ACTOR, seat)
    reset_sip_password(ACTOR, seat)
    db.session.commit()
    with create_engine(local_kamailio).begin() as conn:
        conn.execute(text("DELETE FROM subscriber"))  # removed at the colo behind Seatmeter's back

    assert run_steps(seat) == ["reset_password"]
    assert seat.state is SeatState.FAILED and "does not exist" in seat.last_error

    retry_seat(ACTOR, seat)
    db.session.commit()
    assert run_steps(seat) == ["create", "reset_password"]
    assert seat.state is SeatState.ACTIVE
    assert reveal_seat_secret(ACTOR, seat) == _subscriber_password(local_kamailio, seat.external_id)
