"""Late changes to months that are already billed, turned into adjustment lines on a later invoice.

A month is *frozen* for a client once the client's invoice for it is finalized, or once the whole
month was finalized (then a client without an invoice that month is frozen too). Each frozen month
was billed from the ledger as it stood at a known instant: the invoice's ``built_at``, or the close
run's ``closed_at``. A usage event received later, or a ledger row written or changed later, may
change what that month owes, from the event's time (or the interval's start, or its new stop) on.
Month close re-counts those frozen months and bills the difference to what was billed for them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from metering.adjustments import Billed, rate_adjustments
from metering.billing.catalog import CatalogSnapshot
from metering.billing.models import BillingPeriodState, Invoice, InvoiceLine, InvoiceStatus
from metering.commitments.services import committed_quantities_for
from metering.counting import count_product_users, count_snapshot_devices, count_unassigned_seats
from metering.ledger.models import LedgerInterval
from metering.ledger.services import intervals_overlapping
from metering.periods import BillingPeriod
from metering.rating import InvoiceLineDraft
from metering.usage.models import UsageAction, UsageEvent, UsageSnapshot
from metering.usage.snapshots import averaged_products, device_snapshots
from portal.catalog.models import Product
from portal.db import db


def _latest_frozen_close(current: str) -> datetime | None:
    """When the newest finalized month before ``current`` was last closed (its snapshot)."""
    return db.session.scalar(
        select(func.max(BillingPeriodState.closed_at)).where(
            BillingPeriodState.finalized_at.is_not(None), BillingPeriodState.period < current
        )
    )


def restatement_starts(period: BillingPeriod) -> dict[int, datetime]:
    """Per client: the earliest instant whose billing may have changed since its last frozen snapshot.

    Clients absent from the result have nothing to restate. Three aggregate queries for all clients.
    """
    current = str(period)
    global_base = _latest_frozen_close(current)
    bases = (
        select(Invoice.client_id.label("client_id"), func.max(Invoice.built_at).label("base"))
        .where(Invoice.status != InvoiceStatus.DRAFT, Invoice.period < current)
        .group_by(Invoice.client_id)
        .subquery()
    )
    if global_base is None and db.session.scalar(select(func.count()).select_from(bases)) == 0:
        return {}

    def since(column: Any) -> list[Any]:
        """The row is newer than its client's snapshot: later than both bases that exist."""
        newer_than_global = column > global_base if global_base is not None else bases.c.base.is_not(None)
        return [or_(bases.c.base.is_(None), column > bases.c.base), newer_than_global]

    starts: dict[int, datetime] = {}

    def merge(rows: Any) -> None:
        for client_id, at in rows:
            if at is not None and (client_id not in starts or at < starts[client_id]):
                starts[client_id] = at

    events = (
        select(UsageEvent.client_id, func.min(UsageEvent.at))
        .outerjoin(bases, bases.c.client_id == UsageEvent.client_id)
        .where(*since(UsageEvent.received_at))
        .group_by(UsageEvent.client_id)
    )
    written = (
        select(LedgerInterval.client_id, func.min(LedgerInterval.start_at))
        .outerjoin(bases, bases.c.client_id == LedgerInterval.client_id)
        .where(*since(LedgerInterval.created_at))
        .group_by(LedgerInterval.client_id)
    )
    # A changed row (a seat interval being closed, a usage interval cut shorter) changes what it
    # grants from its new stop on.
    changed = (
        select(LedgerInterval.client_id, func.min(LedgerInterval.stop_at))
        .outerjoin(bases, bases.c.client_id == LedgerInterval.client_id)
        .where(LedgerInterval.stop_at.is_not(None), *since(LedgerInterval.updated_at))
        .group_by(LedgerInterval.client_id)
    )
    snapshots = (
        select(UsageSnapshot.client_id, func.min(UsageSnapshot.as_of))
        .outerjoin(bases, bases.c.client_id == UsageSnapshot.client_id)
        .where(UsageSnapshot.quantity.is_not(None), *since(UsageSnapshot.received_at))
        .group_by(UsageSnapshot.client_id)
    )
    for query in (events, written, changed, snapshots):
        merge(db.session.execute(query))
    return starts


def frozen_periods(client_id: int, before: BillingPeriod) -> list[BillingPeriod]:
    """Months before ``before`` that are frozen for this client, oldest first."""
    current = str(before)
    own = db.session.scalars(
        select(Invoice.period).where(
            Invoice.client_id == client_id, Invoice.status != InvoiceStatus.DRAFT, Invoice.period < current
        )
    )
    everyone = db.session.scalars(
        select(BillingPeriodState.period).where(
            BillingPeriodState.finalized_at.is_not(None), BillingPeriodState.period < current
        )
    )
    return sorted(BillingPeriod.parse(text) for text in set(own) | set(everyone))


def _counted(client_id: int, start: datetime, stop: datetime) -> dict[str, int]:
    intervals = list(intervals_overlapping(start, stop, client_id))
    users = count_product_users(intervals, start, stop)
    counted = {product: len(members) for (_client, product), members in users.items()}
    # A seat in service with nobody counted through it is one unit, as the close bills it.
    for (_client, product), seats in count_unassigned_seats(intervals, start, stop).items():
        counted[product] = counted.get(product, 0) + len(seats)
    usage = db.session.execute(
        select(Product.code, func.sum(UsageEvent.quantity))
        .join(Product, Product.id == UsageEvent.product_id)
        .where(
            UsageEvent.client_id == client_id,
            UsageEvent.action == UsageAction.USAGE,
            UsageEvent.at >= start,
            UsageEvent.at < stop,
        )
        .group_by(Product.code)
    )
    for code, quantity in usage:
        counted[code] = counted.get(code, 0) + int(quantity or 0)
    devices = device_snapshots(start, stop, client_id).get(client_id, [])
    for (_client, product), quantity in count_snapshot_devices(
        devices, start, stop, averaged_products()
    ).items():
        counted[product] = counted.get(product, 0) + quantity
    return counted


def _billed(client_id: int, period: BillingPeriod, exclude_invoice_id: int | None) -> dict[str, Billed]:
    query = (
        select(Product.code, InvoiceLine.quantity, InvoiceLine.unit_amount_minor, InvoiceLine.currency)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .join(Product, Product.id == InvoiceLine.product_id)
        .where(Invoice.client_id == client_id, InvoiceLine.period == str(period))
        .order_by(InvoiceLine.id)
    )
    if exclude_invoice_id is not None:
        query = query.where(Invoice.id != exclude_invoice_id)
    quantities: defaultdict[str, int] = defaultdict(int)
    first_price: dict[str, tuple[int, str]] = {}
    for code, quantity, unit_amount, currency in db.session.execute(query):
        quantities[code] += quantity
        first_price.setdefault(code, (unit_amount, currency))
    return {
        code: Billed(
            quantity=quantities[code], unit_amount_minor=first_price[code][0], currency=first_price[code][1]
        )
        for code in quantities
    }


def adjustment_lines(
    client_id: int,
    client_ref: str,
    period: BillingPeriod,
    changed_from: datetime,
    tz: ZoneInfo,
    catalog: CatalogSnapshot,
    exclude_invoice_id: int | None,
) -> list[InvoiceLineDraft]:
    """Adjustment lines for every frozen month of this client that ends after ``changed_from``.

    "Billed" counts every other invoice of the client, drafts included, so a correction sits on one
    invoice only even when two months are open at once.
    """
    lines: list[InvoiceLineDraft] = []
    for frozen in frozen_periods(client_id, before=period):
        start, stop = frozen.bounds(tz)
        if stop <= changed_from:
            continue
        lines.extend(
            rate_adjustments(
                client_ref,
                frozen,
                _counted(client_id, start, stop),
                _billed(client_id, frozen, exclude_invoice_id),
                # The frozen month is re-rated at its own prices, not at this month's.
                catalog.prices_for(frozen),
                catalog.names,
                catalog.units,
                committed_quantities_for(client_id, frozen),
            )
        )
    return lines
