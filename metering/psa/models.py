"""The PSA sync's tables: which PSA company, agreement and catalog item stand for Seatmeter's
clients and products, and one record per client, product and month of what was sent to the PSA.

A :class:`PsaSync` row is written only by :mod:`metering.psa.services` (its one owner): created
``pending`` when the month's invoice is finalized, then ``done`` (the addition holds the month's
billed quantity), ``failed`` (with the reason; "sync again" makes it pending) or ``conflict`` (the
quantity was changed in the PSA since Seatmeter last set it; shown, never overwritten unless the
reseller asks for it).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Client, str_enum
from portal.catalog.models import Product
from portal.db import Base, utcnow


class PsaSyncState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    CONFLICT = "conflict"


class PsaCompanyLink(Base):
    """A client's company and agreement in the PSA (names kept as read, for the pages)."""

    __tablename__ = "psa_company_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), unique=True)
    company_id: Mapped[int]
    company_name: Mapped[str] = mapped_column(String(200))
    agreement_id: Mapped[int]
    agreement_name: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship()


class PsaProductLink(Base):
    """A product's item in the PSA's catalog: the item its agreement additions are for.

    No item (``catalog_item_id`` None): the reseller does not bill this product through the PSA
    (usage such as call minutes, say), and finalized months record nothing for it.
    """

    __tablename__ = "psa_product_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), unique=True)
    catalog_item_id: Mapped[int | None]
    catalog_item_name: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship()


class PsaSync(Base):
    """One client's product in one month: the quantity its agreement addition must hold."""

    __tablename__ = "psa_syncs"
    __table_args__ = (
        UniqueConstraint("client_id", "product_id", "period"),
        Index("ix_psa_syncs_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))  # "YYYY-MM"
    # The month's billed quantity (the invoice's own lines of that product; 0 once it stops).
    quantity: Mapped[int]
    state: Mapped[PsaSyncState] = mapped_column(str_enum(PsaSyncState), default=PsaSyncState.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    # Where the quantity went, once known: the agreement and its addition in the PSA.
    agreement_id: Mapped[int | None]
    addition_id: Mapped[int | None]
    # What the PSA held when a conflict was found.
    psa_quantity: Mapped[int | None]
    # Set by the reseller's "overwrite" of a conflict: the next attempt writes over the PSA's value.
    overwrite: Mapped[bool] = mapped_column(default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(default=0)
    # While a worker calls the PSA for this record (outside any transaction), no other one does.
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    synced_at: Mapped[datetime | None]

    client: Mapped[Client] = relationship()
    product: Mapped[Product] = relationship()
