"""What the client's dashboard shows beyond the seats: this month's cost so far, recent activity.

The month's cost is counted exactly as the month close will count it (the licence ledger, SPLA
style: every distinct person who held a product at any moment of the month), at today's prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from metering.counting import count_product_users
from metering.ledger.services import intervals_overlapping
from metering.periods import BillingPeriod
from metering.rating import InvoiceLineDraft, Price, rate_seat_products
from portal.accounts.models import Client
from portal.audit.models import AuditEvent
from portal.catalog.models import Product
from portal.db import db, utcnow


@dataclass(frozen=True)
class MonthSoFar:
    period: BillingPeriod
    lines: list[InvoiceLineDraft]
    # One total per currency: the price book could mix them, and amounts in two currencies never add.
    totals: dict[str, int]
    product_names: dict[str, str]

    @property
    def is_empty(self) -> bool:
        return not self.lines


def month_so_far(client: Client, now: datetime | None = None) -> MonthSoFar:
    """The current billing month's charges for seats so far, at the current prices."""
    tz = ZoneInfo(current_app.config["BILLING_TIMEZONE"])
    period = BillingPeriod.containing(now or utcnow(), tz)
    start, stop = period.bounds(tz)
    # The ledger holds nothing that starts after now, so counting the whole month counts "so far".
    product_users = count_product_users(intervals_overlapping(start, stop, client_id=client.id), start, stop)
    products = {product.code: product for product in db.session.scalars(select(Product))}
    price_book = {code: Price(product.price_minor, product.currency) for code, product in products.items()}
    names = {code: product.name for code, product in products.items()}
    lines = rate_seat_products(product_users, price_book, period, names)
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, 0) + line.amount_minor
    return MonthSoFar(period=period, lines=lines, totals=totals, product_names=names)


def recent_activity(client: Client, limit: int = 10) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.client_id == client.id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )
