"""What differs: a platform's accounts against the seats of their kind, and outside usage reports
against the seats and the ledger. Pure reading; :mod:`provisioning.trueup.services` records it.

An account no seat explains is *unbilled*; an active seat whose account is missing is *orphaned*;
a seat at rest whose account is enabled while it is suspended (or disabled while it is active) has
*drifted*. Seats the workers are busy with are left alone: the difference may be their next step.
People an outside system reports as using a product, with no seat of their client giving it to them
over about the last month, are *external counts* (already billed from those reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from metering import IntervalSource, LedgerInterval, UsageAction, UsageEvent
from portal.accounts.models import Client, EndUser
from portal.catalog.models import Product
from portal.db import db
from portal.orders.models import DesiredState, Seat, SeatState
from provisioning.adapters.base import AccountState
from provisioning.lifecycle import SETTLED, is_at_rest
from provisioning.models import SeatWork
from provisioning.trueup.matching import SeatIndex, owner_of
from provisioning.trueup.models import FindingKind
from provisioning.trueup.platforms import Observed, Reading

# Usage reported from outside is compared over about the last month.
EXTERNAL_WINDOW = timedelta(days=35)


@dataclass
class Drift:
    kind: FindingKind
    product_kind: str
    fingerprint: str
    summary: str
    evidence: dict[str, Any]
    client: Client | None = None
    unmapped_reason: str | None = None
    user_key: str | None = None
    seat: Seat | None = None
    product: Product | None = None


def _at_rest(seat: Seat, now: datetime) -> bool:
    """Not being worked on: observed state is what is wanted, no step due, no worker on it."""
    work = SeatWork.find(seat)
    if work is not None and (
        work.sweep_after is not None or (work.lease_expires_at is not None and work.lease_expires_at > now)
    ):
        return False
    # A cancelled or failed seat has no account state to compare with the platform's.
    return seat.state not in SETTLED and is_at_rest(seat)


def _who(seat: Seat) -> str:
    person = f", {seat.end_user.email}" if seat.end_user else ""
    return f"seat #{seat.id} of {seat.client.name} ({seat.product.name}{person})"


def compare_platform(reading: Reading, now: datetime) -> dict[str, Drift]:
    index = SeatIndex(reading.platform, reading.kind)
    SeatWork.load_for(index.seats)  # _at_rest reads each seat's bookkeeping: one query, not one each
    drifts: dict[str, Drift] = {}
    explained: set[int] = set()
    for observed in reading.observed:
        account = observed.account
        seat = index.match(observed)
        if seat is not None:
            explained.add(seat.id)
            drift = _state_drift(observed, seat, now)
            if drift is not None:
                drifts[account.external_id] = drift
            continue
        drifts[account.external_id] = _unbilled(observed, index.cancelled_seat(observed))
    for seat in index.seats:
        if seat.id in explained or seat.state is not SeatState.ACTIVE or not _at_rest(seat, now):
            continue
        account_id = seat.external_id or f"seat:{seat.id}"
        drifts[account_id] = Drift(
            kind=FindingKind.ORPHANED,
            product_kind=reading.kind,
            fingerprint=f"orphaned:seat{seat.id}:r{seat.revision}",
            summary=f"Seatmeter bills {_who(seat)} as active, but {reading.platform} has no account for it.",
            evidence={
                "looked_for": seat.external_id,
                "platform_returned": None,
                "accounts_listed": len(reading.observed),
            },
            client=seat.client,
            user_key=seat.end_user.email.lower() if seat.end_user else None,
            seat=seat,
            product=seat.product,
        )
    return drifts


def _state_drift(observed: Observed, seat: Seat, now: datetime) -> Drift | None:
    state = observed.account.state
    if not _at_rest(seat, now) or state is AccountState.PENDING:
        return None
    if seat.state is SeatState.ACTIVE and state is AccountState.DISABLED:
        summary = f"Seatmeter bills {_who(seat)} as active, but it is disabled on {observed.platform}."
    elif seat.state is SeatState.SUSPENDED and state is AccountState.ENABLED:
        summary = (
            f"{_who(seat).capitalize()} is suspended and not billed, but enabled on {observed.platform}."
        )
    else:
        return None
    return Drift(
        kind=FindingKind.STATE_DRIFT,
        product_kind=observed.kind,
        fingerprint=f"state_drift:seat{seat.id}:r{seat.revision}:{seat.state.value}:{state.value}",
        summary=summary,
        evidence=observed.evidence,
        client=seat.client,
        user_key=seat.end_user.email.lower() if seat.end_user else None,
        seat=seat,
        product=seat.product,
    )


def _unbilled(observed: Observed, cancelled: Seat | None) -> Drift:
    owner = owner_of(observed, cancelled)
    account = observed.account
    label = account.name or account.external_id
    summary = f"{observed.platform} has an account “{label}” that no seat explains"
    if cancelled is not None:
        summary += f": it outlived {_who(cancelled)}, which is cancelled"
    elif owner.client is not None:
        summary += f"; it belongs to {owner.client.name}"
    summary += "." if owner.client is not None else f". {owner.unmapped_reason}"
    return Drift(
        kind=FindingKind.UNBILLED,
        product_kind=observed.kind,
        fingerprint=f"unbilled:seat{cancelled.id}" if cancelled is not None else "unbilled",
        summary=summary,
        evidence={**observed.evidence, "named_client": observed.client_ref},
        client=owner.client,
        unmapped_reason=owner.unmapped_reason,
        user_key=owner.person,
        seat=cancelled,
    )


def external_counts(now: datetime) -> dict[str, Drift]:
    """People an outside system reports as using a product that no seat of their client gives them."""
    since = now - EXTERNAL_WINDOW
    overlapping = [
        LedgerInterval.start_at < now,
        or_(LedgerInterval.stop_at.is_(None), LedgerInterval.stop_at > since),
    ]
    explained = {
        (client_id, product_id, user_key)
        for client_id, product_id, user_key in db.session.execute(
            select(LedgerInterval.client_id, LedgerInterval.product_id, LedgerInterval.user_key).where(
                LedgerInterval.source.in_((IntervalSource.SEAT, IntervalSource.TRUEUP)), *overlapping
            )
        )
    }
    # Seats being provisioned for the person explain it too (their interval opens when active).
    explained |= {
        (client_id, product_id, email.lower())
        for client_id, product_id, email in db.session.execute(
            select(Seat.client_id, Seat.product_id, EndUser.email)
            .join(EndUser, EndUser.id == Seat.end_user_id)
            .where(Seat.desired_state != DesiredState.TERMINATED, Seat.state != SeatState.TERMINATED)
        )
    }
    rows = db.session.execute(
        select(LedgerInterval)
        .where(LedgerInterval.source.in_((IntervalSource.USAGE, IntervalSource.SNAPSHOT)), *overlapping)
        .options(selectinload(LedgerInterval.client), selectinload(LedgerInterval.product))
        .order_by(
            LedgerInterval.client_id,
            LedgerInterval.product_id,
            LedgerInterval.user_key,
            LedgerInterval.start_at,
        )
    ).scalars()
    grouped: dict[tuple[int, int, str | None], list[LedgerInterval]] = {}
    for interval in rows:
        key = (interval.client_id, interval.product_id, interval.user_key)
        if key not in explained:
            grouped.setdefault(key, []).append(interval)
    drifts = {}
    for (client_id, product_id, user_key), intervals in grouped.items():
        client, product = intervals[0].client, intervals[0].product
        senders = sorted(
            db.session.scalars(
                select(UsageEvent.received_from)
                .where(
                    UsageEvent.client_id == client_id,
                    UsageEvent.product_id == product_id,
                    UsageEvent.user_key == user_key,
                    UsageEvent.action != UsageAction.USAGE,
                )
                .distinct()
            )
        )
        since_text = intervals[0].start_at.strftime("%Y-%m-%d")
        drifts[f"{client.ref}/{product.code}/{user_key}"] = Drift(
            kind=FindingKind.EXTERNAL_COUNT,
            product_kind=product.kind.value,
            fingerprint="external_count",
            summary=(
                f"An outside system reports {user_key} using {product.name} at {client.name} since "
                f"{since_text}, but no seat of {client.name} gives it to them (billed from those reports)."
            ),
            evidence={
                "client": client.ref,
                "product": product.code,
                "user": user_key,
                "intervals": [
                    {"start": i.start_at.isoformat(), "stop": i.stop_at.isoformat() if i.stop_at else None}
                    for i in intervals[-20:]
                ],
                "reported_by": senders,
            },
            client=client,
            user_key=user_key,
            product=product,
        )
    return drifts
