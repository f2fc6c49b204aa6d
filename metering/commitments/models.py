"""Committed-seat contracts: a client commits to paying for at least N seats of a product each month.

The month close bills max(commitment, counted users): the committed quantity on one line and the
users above it on a "true-up" line (see ``metering.rating.rate_seat_products``). A commitment runs
from its first month to its last (inclusive; open-ended without one). Two commitments of one client
and product never overlap.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from metering.periods import BillingPeriod
from portal.accounts.models import Client
from portal.catalog.models import Product
from portal.db import Base, utcnow


class Commitment(Base):
    __tablename__ = "seat_commitments"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("ends IS NULL OR ends >= starts", name="ends_after_starts"),
        Index("ix_seat_commitments_client_product", "client_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int]
    starts: Mapped[str] = mapped_column(String(7))  # first month billed, "YYYY-MM"
    ends: Mapped[str | None] = mapped_column(String(7))  # last month billed; None: until ended
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship()
    product: Mapped[Product] = relationship()

    def covers(self, period: BillingPeriod) -> bool:
        return self.starts <= str(period) and (self.ends is None or str(period) <= self.ends)
