"""The catalog: products a client can order, the licences (SKUs) each one needs, and prices."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, Text
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


class LicenceUnit(enum.StrEnum):
    PER_USER = "per_user"  # a SAL: one per distinct authorized user per month
    PER_CORE_PACK = "per_core_pack"  # two-core packs per host per month


product_licences = Table(
    "product_licences",
    Base.metadata,
    Column("product_id", ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
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
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


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
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # The bill of licences: every SKU one seat of this product grants to its end user.
    skus: Mapped[list[LicenceSku]] = relationship(secondary=product_licences, order_by=LicenceSku.code)
