"""The catalog: products a client can order, the licences (SKUs) each one needs, and prices."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import str_enum
from portal.db import Base, utcnow


class ProductKind(enum.StrEnum):
    """What a seat of the product is on the platform; provisioning picks its adapter by this."""

    DESKTOP = "desktop"
    MAILBOX = "mailbox"
    VOIP = "voip"


class ProductBilling(enum.StrEnum):
    """How a product is billed: per distinct user in the month, or per metered unit (e.g. minutes)."""

    PER_USER = "per_user"
    METERED = "metered"


class LicenceProgramme(enum.StrEnum):
    """Whom a licence SKU is bought from, and so which monthly report lists it."""

    SPLA = "spla"  # Microsoft SPLA: reported to the distributor every month
    AWS = "aws"  # licence included in an AWS service (e.g. a WorkSpaces bundle): a cost only


class LicenceUnit(enum.StrEnum):
    PER_USER = "per_user"  # a SAL: one per distinct authorized user per month
    PER_CORE_PACK = "per_core_pack"  # two-core packs per host per month


product_licences = Table(
    "product_licences",
    Base.metadata,
    Column("product_id", ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("sku_id", ForeignKey("licence_skus.id", ondelete="RESTRICT"), primary_key=True),
)

placement_licences = Table(
    "placement_licences",
    Base.metadata,
    Column("placement_id", ForeignKey("product_placements.id", ondelete="CASCADE"), primary_key=True),
    Column("sku_id", ForeignKey("licence_skus.id", ondelete="RESTRICT"), primary_key=True),
)


class LicenceSku(Base):
    """A licence the reseller reports to its SPLA distributor, with what it costs the reseller."""

    __tablename__ = "licence_skus"
    __table_args__ = (CheckConstraint("spla_cost_minor >= 0", name="cost_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[LicenceUnit] = mapped_column(str_enum(LicenceUnit), default=LicenceUnit.PER_USER)
    spla_cost_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # Microsoft's part number (e.g. 6WC-00002), the key distributors read SPLA reports by.
    part_number: Mapped[str | None] = mapped_column(String(20))
    programme: Mapped[LicenceProgramme] = mapped_column(
        str_enum(LicenceProgramme),
        default=LicenceProgramme.SPLA,
        server_default=LicenceProgramme.SPLA.value,
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # The cost from each month on; ``spla_cost_minor`` holds the newest one set.
    costs: Mapped[list[SkuCost]] = relationship(
        order_by="SkuCost.effective_from", cascade="all, delete-orphan"
    )


class Product(Base):
    """Something a client orders per seat, priced per month."""

    __tablename__ = "products"
    __table_args__ = (CheckConstraint("price_minor >= 0", name="price_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[ProductKind] = mapped_column(str_enum(ProductKind))
    price_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # Per-user products are counted from the licence ledger; metered ones are summed from usage
    # events, and ``price_minor`` is then the price of one ``unit`` (e.g. one minute).
    billing: Mapped[ProductBilling] = mapped_column(
        str_enum(ProductBilling),
        default=ProductBilling.PER_USER,
        server_default=ProductBilling.PER_USER.value,
    )
    unit: Mapped[str] = mapped_column(String(32), default="user", server_default="user")
    active: Mapped[bool] = mapped_column(default=True)
    # The platform (adapter name) the product is placed on unless an interval says otherwise: usage
    # events and true-ups count on it. None: the product has no placement (its ``skus`` apply).
    platform: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # The bill of licences where the product has no placement on the platform it was held on.
    skus: Mapped[list[LicenceSku]] = relationship(secondary=product_licences, order_by=LicenceSku.code)
    # The price from each month on; ``price_minor`` holds the newest one set (see ProductPrice).
    prices: Mapped[list[ProductPrice]] = relationship(
        order_by="ProductPrice.effective_from", cascade="all, delete-orphan"
    )


# Migration 0013 carried every price and cost that existed before history was kept over from here,
# so every month that was ever billed finds a price in force.
HISTORY_START = "2000-01"


class ProductPrice(Base):
    """A product's monthly price from a billing month ("YYYY-MM") on, until the next row's month.

    Closing, re-closing and adjusting a month read the row in force for that month, so a price change
    never re-prices a month that was already billed. ``Product.price_minor`` holds the newest price set
    (the list price going forward); billing and quotes never read it.
    """

    __tablename__ = "product_prices"
    __table_args__ = (
        UniqueConstraint("product_id", "effective_from"),
        CheckConstraint("amount_minor >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    effective_from: Mapped[str] = mapped_column(String(7))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SkuCost(Base):
    """What a licence SKU costs the reseller from a billing month on (SPLA report, margins)."""

    __tablename__ = "licence_sku_costs"
    __table_args__ = (
        UniqueConstraint("sku_id", "effective_from"),
        CheckConstraint("amount_minor >= 0", name="cost_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("licence_skus.id", ondelete="CASCADE"), index=True)
    effective_from: Mapped[str] = mapped_column(String(7))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Placement(Base):
    """A product offered on a platform (the adapter that provisions it), with its own bill of licences,
    from a billing month ("YYYY-MM") on, until the next row of the same product and platform.

    A desktop at the colo (``active_directory``) needs Microsoft SPLA SALs; the same desktop on
    ``workspaces`` needs the AWS bundle (licence included, a cost only). Each month's reports read the
    row in force for that month, so a later change of the bill leaves past months as they were.
    """

    __tablename__ = "product_placements"
    __table_args__ = (UniqueConstraint("product_id", "platform", "effective_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    effective_from: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship()
    skus: Mapped[list[LicenceSku]] = relationship(secondary=placement_licences, order_by=LicenceSku.code)
