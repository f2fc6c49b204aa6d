"""What people read from provisioning: the failed queue, the attempt log, a seat's one-time secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from metering import seats_counted_now
from portal.accounts.models import EndUser
from portal.audit.services import Actor, record
from portal.catalog.models import ProductKind
from portal.db import db
from portal.orders.models import Seat, SeatState
from portal.sealing import unseal
from provisioning.models import ProvisioningAttempt, SeatWork


def failed_seats(limit: int = 500) -> list[Seat]:
    """The reseller's failed-provisioning queue, oldest failure first."""
    return list(
        db.session.scalars(
            select(Seat)
            .where(Seat.state == SeatState.FAILED)
            .options(selectinload(Seat.client), selectinload(Seat.product), selectinload(Seat.end_user))
            .order_by(Seat.state_changed_at, Seat.id)
            .limit(limit)
        )
    )


def removal_failing_since(seats: list[Seat]) -> dict[int, datetime]:
    """Failed seats through which the platform may still let someone in, and since when it fails.

    Such a seat's ledger interval is still open (counting follows access, see lifecycle.sync_ledger):
    its removal failed, so the person stays counted and billed until a retry or a cancel is done.
    """
    failed = {seat.id: seat for seat in seats if seat.state is SeatState.FAILED}
    return {seat_id: failed[seat_id].state_changed_at for seat_id in seats_counted_now(list(failed))}


@dataclass(frozen=True)
class StillAuthorized:
    """A seat whose removal is failing: the platform may still let ``person`` (the account's owner,
    an email) in, so the seat stays counted and billed."""

    seat: Seat
    person: str | None
    since: datetime


def still_authorized_before(stop: datetime) -> list[StillAuthorized]:
    """Seats whose removal has been failing since before ``stop`` (e.g. a month's end)."""
    failed = failed_seats()
    since = removal_failing_since(failed)
    listed = [seat for seat in failed if seat.id in since and since[seat.id] < stop]
    # The account on the platform, not the seat's assignee: an unassign that failed left the seat
    # with nobody assigned while the old person can still log in.
    ids = {seat.account_end_user_id for seat in listed if seat.account_end_user_id is not None}
    emails: dict[int, str] = {
        user_id: email
        for user_id, email in db.session.execute(select(EndUser.id, EndUser.email).where(EndUser.id.in_(ids)))
    }
    return [
        StillAuthorized(seat, emails.get(seat.account_end_user_id or 0), since[seat.id]) for seat in listed
    ]


def attempts_of(seat: Seat, limit: int = 100) -> list[ProvisioningAttempt]:
    """A seat's attempts, newest first."""
    return list(
        db.session.scalars(
            select(ProvisioningAttempt)
            .where(ProvisioningAttempt.seat_id == seat.id)
            .order_by(ProvisioningAttempt.started_at.desc(), ProvisioningAttempt.id.desc())
            .limit(limit)
        )
    )


def recent_attempts(limit: int = 200, client_id: int | None = None) -> list[ProvisioningAttempt]:
    """The newest attempts across all seats (or one client's), for the reseller's log."""
    query = select(ProvisioningAttempt).options(
        selectinload(ProvisioningAttempt.seat).selectinload(Seat.client),
        selectinload(ProvisioningAttempt.seat).selectinload(Seat.product),
    )
    if client_id is not None:
        query = query.where(ProvisioningAttempt.client_id == client_id)
    query = query.order_by(ProvisioningAttempt.started_at.desc(), ProvisioningAttempt.id.desc()).limit(limit)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class PhoneSignIn:
    """What a phone needs besides its password: the SIP account, its domain and the registrar."""

    account: str
    domain: str
    server: str


def phone_sign_in(seat: Seat) -> PhoneSignIn | None:
    """A VoIP seat's SIP account once the registrar has it (None for other seats, or not yet made)."""
    if seat.product.kind is not ProductKind.VOIP or not seat.external_id or "@" not in seat.external_id:
        return None
    account, _, domain = seat.external_id.partition("@")
    return PhoneSignIn(account=account, domain=domain, server=current_app.config["SIP_SERVER"])


def password_reset_pending(seat: Seat) -> bool:
    """True while a new SIP password the client admin asked for is not on the registrar yet."""
    work = SeatWork.find(seat)
    return work is not None and work.secret_reset_wanted


def has_secret(seat: Seat) -> bool:
    """True while the seat's generated password (VoIP) is waiting to be shown."""
    work = SeatWork.find(seat)
    return work is not None and work.secret_ciphertext is not None


def reveal_seat_secret(actor: Actor, seat: Seat) -> str | None:
    """The seat's generated password, once: it is deleted from Seatmeter as it is returned.

    For the client admin's page. None when there is none (not yet provisioned, or already shown).
    The caller commits; the audit log records who saw it (never the value).
    """
    work = SeatWork.find(seat)
    if work is None or work.secret_ciphertext is None:
        return None
    secret = unseal(work.secret_ciphertext)
    work.secret_ciphertext = None
    db.session.flush()
    record(actor, "seat.secret_shown", "seat", seat.id, client_id=seat.client_id, details={})
    return secret
