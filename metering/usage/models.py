"""Usage as received. Start/stop events are turned into ledger intervals of source ``usage``;
metered events (``usage`` with a quantity) are summed per month at close.

Events are kept for good: the intervals of a (client, user, product) are always derived from all of
its events, so events may arrive in any order.

Snapshots ("as of this moment, these people / this many devices") are kept for good too: the
``snapshot`` intervals of a (client, product) are derived from all of its snapshots in ``as_of``
order, and a per-device product bills the month's peak or average of its snapshots.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Client, Integration, str_enum
from portal.catalog.models import Product
from portal.db import Base, utcnow

RESELLER_SENDER = "reseller"


def integration_sender(integration_id: int) -> str:
    return f"integration:{integration_id}"


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
        # Ids belong to their sender: another tool's ``e-1`` is another event.
        UniqueConstraint("sender", "event_id", name="uq_usage_events_sender_event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Who owns the event ids: ``integration:<id>`` for an integration's token, ``reseller`` for the
    # reseller's own tokens and imports (every event from before integrations existed).
    sender: Mapped[str] = mapped_column(String(64), default=RESELLER_SENDER)
    # The sender's id for the event: seen twice from one sender, it is a duplicate and changes nothing.
    event_id: Mapped[str] = mapped_column(String(200))
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


class SnapshotAggregate(enum.StrEnum):
    """How a per-device product's month is billed from its snapshots (never their sum)."""

    PEAK = "peak"
    AVERAGE = "average"


class UsageSnapshot(Base):
    """What an integration saw for one organisation and product at one moment.

    Per-user products carry ``users`` (lower-cased keys, sorted); per-device (metered) products
    carry ``quantity``. The same (integration, organisation, product, moment) sent again replaces
    the row; sent unchanged it changes nothing.
    """

    __tablename__ = "usage_snapshots"
    __table_args__ = (
        UniqueConstraint("integration_id", "external_org", "product_id", "as_of"),
        CheckConstraint(
            "(users IS NULL AND quantity IS NOT NULL AND quantity >= 0)"
            " OR (users IS NOT NULL AND quantity IS NULL)",
            name="users_or_quantity",
        ),
        Index("ix_usage_snapshots_client_product_as_of", "client_id", "product_id", "as_of"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"))
    external_org: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    as_of: Mapped[datetime]
    users: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    quantity: Mapped[int | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_from: Mapped[str] = mapped_column(String(300), default="")

    integration: Mapped[Integration] = relationship()
    client: Mapped[Client] = relationship()
    product: Mapped[Product] = relationship()


class SnapshotRule(Base):
    """The reseller's choice for one per-device product: bill the month's peak or its average."""

    __tablename__ = "usage_snapshot_rules"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    aggregate: Mapped[SnapshotAggregate] = mapped_column(str_enum(SnapshotAggregate))

    product: Mapped[Product] = relationship()
