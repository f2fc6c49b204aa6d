"""Orders and the seats they create.

A seat has a desired state (what the client asked for) and an observed state (what the platform
is known to have). The provisioning engine moves the observed state towards the desired one.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Client, EndUser, str_enum
from portal.catalog.models import Product
from portal.db import Base, utcnow


class SeatState(enum.StrEnum):
    ORDERED = "ordered"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDING = "suspending"
    SUSPENDED = "suspended"
    RESUMING = "resuming"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"


class DesiredState(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (CheckConstraint("quantity BETWEEN 1 AND 500", name="quantity_in_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int]
    # The monthly price quoted when the order was placed, kept for the order history.
    unit_price_minor: Mapped[int]
    currency: Mapped[str]
    placed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    placed_by_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship()
    product: Mapped[Product] = relationship()
    seats: Mapped[list[Seat]] = relationship(back_populates="order", order_by="Seat.id")


class Seat(Base):
    __tablename__ = "seats"
    __table_args__ = (Index("ix_seats_client_state", "client_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    end_user_id: Mapped[int | None] = mapped_column(ForeignKey("end_users.id"), index=True)
    state: Mapped[SeatState] = mapped_column(str_enum(SeatState), default=SeatState.ORDERED)
    desired_state: Mapped[DesiredState] = mapped_column(str_enum(DesiredState), default=DesiredState.ACTIVE)
    # Bumped on every change of what is wanted; part of the idempotency key of platform calls.
    revision: Mapped[int] = mapped_column(default=1)
    # The account's id on the platform (WorkSpace id, WorkMail user id, SIP username).
    external_id: Mapped[str | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the row last changed, for API syncs (`updated_since`); nullable only so that SQLite can add
    # the column without rebuilding a table that others point at. Every write sets it.
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)
    activated_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]

    # Whose account the platform holds for the seat (read by plan(), by end-user removal and by
    # true-ups, so it stays with the seat; the workers' own bookkeeping is provisioning's
    # ``seat_work`` table). The end user the platform account is (or may be) for, and the e-mail
    # its platform name was made from; None when no account belongs to a person. They differ from
    # end_user while a reassignment is pending (an e-mail change alone does not re-create anything).
    account_end_user_id: Mapped[int | None]
    platform_user: Mapped[str | None] = mapped_column(String(254))

    order: Mapped[Order] = relationship(back_populates="seats")
    product: Mapped[Product] = relationship()
    end_user: Mapped[EndUser | None] = relationship()
    client: Mapped[Client] = relationship()
