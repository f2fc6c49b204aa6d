"""The reseller's business at a glance: what the licences held now bill, seats by state, what needs doing.

The months in figures (revenue, licence cost, seats) are :mod:`metering.figures`; overdue clients and
drafts waiting for review are :mod:`metering.billing.queries`. What is left here reads the portal's
own tables and the ledger right now, one aggregate query each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select

from metering import LedgerInterval
from portal.accounts.models import Client
from portal.audit.models import AuditEvent
from portal.audit.services import SIGN_IN_ACTIONS
from portal.catalog.models import Product, ProductBilling
from portal.db import db
from portal.orders.models import Seat, SeatState


@dataclass(frozen=True)
class RunRate:
    """What the licences held right now bill per month at today's prices (monthly recurring revenue)."""

    total_minor: int
    currency: str
    users_by_product: list[tuple[Product, int, int]]  # product, people holding it now, monthly amount


def run_rate(now: datetime, currency: str) -> RunRate:
    holding = (
        select(
            LedgerInterval.client_id,
            LedgerInterval.product_id,
            LedgerInterval.user_key,
            # A seat in service with nobody bills one unit: each such seat is its own row.
            case((LedgerInterval.user_key.is_(None), LedgerInterval.seat_id), else_=None),
        )
        .where(
            LedgerInterval.start_at <= now,
            or_(LedgerInterval.stop_at.is_(None), LedgerInterval.stop_at > now),
        )
        .distinct()
        .subquery()
    )
    rows = db.session.execute(
        select(Product, func.count())
        .join(holding, holding.c.product_id == Product.id)
        .where(Product.billing == ProductBilling.PER_USER, Product.currency == currency)
        .group_by(Product.id)
        .order_by(Product.price_minor, Product.code)
    ).all()
    by_product = [(product, count, count * product.price_minor) for product, count in rows]
    return RunRate(
        total_minor=sum(amount for _product, _count, amount in by_product),
        currency=currency,
        users_by_product=by_product,
    )


@dataclass(frozen=True)
class SeatMatrix:
    states: list[SeatState]
    rows: list[tuple[Product, dict[SeatState, int]]]

    def total(self, state: SeatState) -> int:
        return sum(counts.get(state, 0) for _product, counts in self.rows)


def seat_matrix() -> SeatMatrix:
    """Seats by product and observed state; cancelled (terminated) seats are history, not counted."""
    counts: dict[int, dict[SeatState, int]] = {}
    for product_id, state, count in db.session.execute(
        select(Seat.product_id, Seat.state, func.count(Seat.id))
        .where(Seat.state != SeatState.TERMINATED)
        .group_by(Seat.product_id, Seat.state)
    ):
        counts.setdefault(product_id, {})[state] = count
    products: Iterable[Product] = (
        db.session.scalars(
            select(Product).where(Product.id.in_(counts)).order_by(Product.price_minor, Product.code)
        )
        if counts
        else []
    )
    present = {state for by_state in counts.values() for state in by_state}
    return SeatMatrix(
        states=[state for state in SeatState if state in present],
        rows=[(product, counts[product.id]) for product in products],
    )


def failed_seat_count() -> int:
    return db.session.scalar(select(func.count(Seat.id)).where(Seat.state == SeatState.FAILED)) or 0


def client_count() -> int:
    return db.session.scalar(select(func.count(Client.id))) or 0


def recent_events(limit: int = 10) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.not_in(SIGN_IN_ACTIONS))
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )
