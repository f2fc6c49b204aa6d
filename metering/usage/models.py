"""Usage events as received. Start/stop events are turned into ledger intervals of source ``usage``;
metered events (``usage`` with a quantity) are summed per month at close.

Events are kept for good: the intervals of a (client, user, product) are always derived from all of
its events, so events may arrive in any order.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Client, str_enum
from portal.catalog.models import Product
from portal.db import Base, utcnow


class UsageAction(enum.StrEnum):
    START = "start"
    STOP = "stop"
    USAGE = "usage"


class UsageEvent(Base):
    __tablename__ = "usage_events"
    __table_args__ = (
        CheckConstraint(
            "(action = 'usage' AND quantity IS NOT NULL AND quantity > 0)"
            " OR (action IN ('start', 'stop') AND quantity IS NULL AND user_key IS NOT NULL)",
            name="action_fields",
        ),
        Index("ix_usage_events_key", "client_id", "product_id", "user_key", "at"),
        Index("ix_usage_events_action_at", "action", "at"),
        Index("ix_usage_events_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The sender's id for the event: seen twice, it is a duplicate and changes nothing.
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    # E-mail / UPN, lower-cased, as the ledger keys people. Optional for metered usage.
    user_key: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[UsageAction] = mapped_column(str_enum(UsageAction))
    at: Mapped[datetime]
    quantity: Mapped[int | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who sent it: the API token's or the import's label, for the audit trail.
    received_from: Mapped[str] = mapped_column(String(300), default="")

    client: Mapped[Client] = relationship()
    product: Mapped[Product] = relationship()
