"""The licence ledger: half-open intervals [start_at, stop_at) of (client, end user, product).

The SKUs a user held follow from the product's bill of licences. Provisioning opens and closes the
intervals of seats in the same transaction as the seat's state change; usage events from outside
systems and true-ups add intervals of their own sources.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Client, EndUser, str_enum
from portal.catalog.models import Product
from portal.db import Base, utcnow


class IntervalSource(enum.StrEnum):
    # A seat whose platform let its end user in, or, with no user, a seat in service with nobody
    # assigned (a working phone extension: it bills one unit of its product).
    SEAT = "seat"
    USAGE = "usage"  # start/stop usage events from an RMM, a PSA or an import
    TRUEUP = "trueup"  # an account found on a platform and adopted by a true-up
    SNAPSHOT = "snapshot"  # a person present in an integration's usage snapshots


class LedgerInterval(Base):
    __tablename__ = "licence_intervals"
    __table_args__ = (
        CheckConstraint("stop_at IS NULL OR stop_at > start_at", name="stop_after_start"),
        # Only a seat is ever in service with nobody: usage and true-ups always name a person.
        CheckConstraint("user_key IS NOT NULL OR source = 'seat'", name="person_or_seat"),
        Index("ix_licence_intervals_client_start", "client_id", "start_at"),
        Index("ix_licence_intervals_start_stop", "start_at", "stop_at"),
        # Month close looks for intervals written or changed after a month was invoiced (late
        # changes become adjustment lines on the next invoice).
        Index("ix_licence_intervals_created_at", "created_at"),
        Index("ix_licence_intervals_updated_at", "updated_at"),
        # A seat has at most one open interval: opening twice (a retried task) is a no-op.
        Index(
            "uq_licence_intervals_open_seat",
            "seat_id",
            unique=True,
            sqlite_where=text("stop_at IS NULL"),
            postgresql_where=text("stop_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    # The person, as SPLA counts them: their e-mail / UPN, lower-cased. A person counts once per
    # SKU however many seats, products or sources give it to them. None: the seat was in service
    # with nobody assigned; it holds no SAL and bills one unit unless a person held the seat.
    user_key: Mapped[str | None] = mapped_column(String(254))
    end_user_id: Mapped[int | None] = mapped_column(ForeignKey("end_users.id", ondelete="SET NULL"))
    seat_id: Mapped[int | None] = mapped_column(ForeignKey("seats.id", ondelete="SET NULL"))
    source: Mapped[IntervalSource] = mapped_column(str_enum(IntervalSource))
    start_at: Mapped[datetime]
    stop_at: Mapped[datetime | None]
    # The platform (adapter name) the product was held on: a seat's adapter when it opened. None:
    # the product's own platform (``Product.platform``), e.g. usage events that name none.
    platform: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the row changes after it was written (a seat interval being closed).
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)

    client: Mapped[Client] = relationship()
    product: Mapped[Product] = relationship()
    end_user: Mapped[EndUser | None] = relationship()
