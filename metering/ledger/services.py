"""Opening and closing ledger intervals, and reading them for a billing period."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from metering.counting import LicenceInterval
from metering.ledger.models import IntervalSource, LedgerInterval
from portal.accounts.models import Client, EndUser
from portal.catalog.models import Product
from portal.db import db
from portal.orders.models import Seat


def end_user_key(end_user: EndUser) -> str:
    """Who an interval counts: the person's address, so one person counts once however they got in."""
    return end_user.email.strip().lower()


def open_seat_interval(seat: Seat, at: datetime, platform: str | None = None) -> LedgerInterval | None:
    """The seat's end user starts holding its product at ``at`` on ``platform`` (the adapter that
    gave access; None: the product's own). Idempotent; None if unassigned."""
    if seat.end_user is None:
        return None
    current = open_seat_interval_of(seat)
    if current is not None:
        return current
    interval = LedgerInterval(
        client_id=seat.client_id,
        product_id=seat.product_id,
        user_key=end_user_key(seat.end_user),
        end_user_id=seat.end_user_id,
        seat_id=seat.id,
        source=IntervalSource.SEAT,
        start_at=at,
        platform=platform,
    )
    db.session.add(interval)
    db.session.flush()
    return interval


def open_seat_service_interval(seat: Seat, at: datetime, platform: str | None = None) -> LedgerInterval:
    """The seat is in service with nobody assigned from ``at``: it bills as one unit. Idempotent."""
    current = open_seat_interval_of(seat)
    if current is not None:
        return current
    interval = LedgerInterval(
        client_id=seat.client_id,
        product_id=seat.product_id,
        user_key=None,
        end_user_id=None,
        seat_id=seat.id,
        source=IntervalSource.SEAT,
        start_at=at,
        platform=platform,
    )
    db.session.add(interval)
    db.session.flush()
    return interval


def record_seat_platform(seat: Seat, platform: str) -> int:
    """Every interval of ``seat`` was held on ``platform``: history brought over from an earlier system,
    where the seat ran elsewhere than on the adapter serving its kind today. How many intervals."""
    intervals = list(db.session.scalars(select(LedgerInterval).where(LedgerInterval.seat_id == seat.id)))
    for interval in intervals:
        interval.platform = platform
    db.session.flush()
    return len(intervals)


def close_seat_interval(seat: Seat, at: datetime) -> LedgerInterval | None:
    """The seat's end user stops holding its product at ``at``. Idempotent."""
    interval = open_seat_interval_of(seat)
    if interval is None:
        return None
    if at <= interval.start_at:
        # Opened and closed within the same instant: it never granted anything.
        db.session.execute(delete(LedgerInterval).where(LedgerInterval.id == interval.id))
        db.session.flush()
        return None
    interval.stop_at = at
    db.session.flush()
    return interval


def open_seat_interval_of(seat: Seat) -> LedgerInterval | None:
    return db.session.scalars(
        select(LedgerInterval).where(LedgerInterval.seat_id == seat.id, LedgerInterval.stop_at.is_(None))
    ).first()


def seats_counted_now(seat_ids: Collection[int]) -> set[int]:
    """Which of these seats have an open interval: the platform may still let someone in through them."""
    if not seat_ids:
        return set()
    return set(
        db.session.scalars(
            select(LedgerInterval.seat_id).where(
                LedgerInterval.seat_id.in_(list(seat_ids)), LedgerInterval.stop_at.is_(None)
            )
        )
    )


def intervals_overlapping(
    start: datetime, stop: datetime, client_id: int | None = None
) -> Iterator[LicenceInterval]:
    """Every ledger interval that overlaps [start, stop), as the pure counting module wants them."""
    query = (
        select(
            Client.ref,
            LedgerInterval.user_key,
            Product.code,
            LedgerInterval.start_at,
            LedgerInterval.stop_at,
            LedgerInterval.seat_id,
            func.coalesce(LedgerInterval.platform, Product.platform),
        )
        .join(Client, Client.id == LedgerInterval.client_id)
        .join(Product, Product.id == LedgerInterval.product_id)
        .where(
            LedgerInterval.start_at < stop,
            or_(LedgerInterval.stop_at.is_(None), LedgerInterval.stop_at > start),
        )
    )
    if client_id is not None:
        query = query.where(LedgerInterval.client_id == client_id)
    rows = db.session.execute(query).yield_per(10_000)
    for ref, user_key, product, start_at, stop_at, seat, platform in rows:
        yield LicenceInterval(
            client=ref,
            end_user=user_key,
            product=product,
            start=start_at,
            stop=stop_at,
            seat=seat,
            platform=platform,
        )


def intervals_by_client(
    start: datetime, stop: datetime, clients: tuple[int, int] | None = None
) -> dict[int, list[LicenceInterval]]:
    """Every interval overlapping [start, stop), grouped by client id, in one pass for month close.

    ``clients`` narrows it to the client ids from the first to the last (inclusive): a batch's range.
    """
    query = (
        select(
            LedgerInterval.client_id,
            Client.ref,
            LedgerInterval.user_key,
            Product.code,
            LedgerInterval.start_at,
            LedgerInterval.stop_at,
            LedgerInterval.seat_id,
        )
        .join(Client, Client.id == LedgerInterval.client_id)
        .join(Product, Product.id == LedgerInterval.product_id)
        .where(
            LedgerInterval.start_at < stop,
            or_(LedgerInterval.stop_at.is_(None), LedgerInterval.stop_at > start),
        )
    )
    if clients is not None:
        query = query.where(LedgerInterval.client_id.between(*clients))
    grouped: dict[int, list[LicenceInterval]] = {}
    rows = db.session.execute(query).yield_per(10_000)
    for client_id, ref, user_key, product, start_at, stop_at, seat in rows:
        interval = LicenceInterval(
            client=ref, end_user=user_key, product=product, start=start_at, stop=stop_at, seat=seat
        )
        grouped.setdefault(client_id, []).append(interval)
    return grouped


# Client ids from, to (inclusive; None: open on that side): one batch of a month close.
ClientRange = tuple[int | None, int | None]


def in_range(
    column: ColumnElement[int] | InstrumentedAttribute[int], clients: ClientRange | None
) -> list[ColumnElement[bool]]:
    """The conditions that keep ``column`` (a client id) within ``clients``; none for None."""
    if clients is None:
        return []
    low, high = clients
    return [
        *([column >= low] if low is not None else []),
        *([column <= high] if high is not None else []),
    ]


def clients_with_intervals(start: datetime, stop: datetime, clients: ClientRange | None = None) -> set[int]:
    """The ids of the clients with an interval overlapping [start, stop) (the intervals stay unread)."""
    return set(
        db.session.scalars(
            select(LedgerInterval.client_id)
            .where(
                LedgerInterval.start_at < stop,
                or_(LedgerInterval.stop_at.is_(None), LedgerInterval.stop_at > start),
                *in_range(LedgerInterval.client_id, clients),
            )
            .distinct()
        )
    )
