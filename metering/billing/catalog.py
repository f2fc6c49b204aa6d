"""The catalog as rating needs it: prices, names, units and bills of licences, read once per run.

Prices and licence costs are effective-dated by month (docs/billing.md): the snapshot carries each
product's whole price history, so a run that bills several months (a close with adjustments for
finalized months) prices each month with what was in force for it, and rating stays pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from metering.periods import BillingPeriod
from metering.rating import Price
from metering.settings import billing_timezone
from portal.catalog.models import (
    LicenceSku,
    Placement,
    Product,
    ProductBilling,
    ProductPrice,
    SkuCost,
    placement_licences,
)
from portal.db import db, utcnow

# Per code: (first month "YYYY-MM", what is in force from it), oldest first.
History = dict[str, tuple[tuple[str, Price], ...]]


@dataclass(frozen=True)
class CatalogSnapshot:
    # The prices in force in the month the snapshot was read for.
    prices: dict[str, Price]
    names: dict[str, str]
    product_ids: dict[str, int]
    metered: frozenset[str]
    # What one unit of each product is: "user", "minute".
    units: dict[str, str]
    bill_of_licences: dict[str, list[str]]
    price_history: History = field(default_factory=dict)

    def prices_for(self, period: BillingPeriod) -> dict[str, Price]:
        """The price of each product in force in ``period`` (an adjustment of an earlier month)."""
        if not self.price_history:
            return self.prices
        return in_force_in(self.price_history, period)


def in_force_in(history: History, period: BillingPeriod) -> dict[str, Price]:
    """Per code, the latest entry of ``history`` that starts in ``period`` or before it."""
    month = str(period)
    found: dict[str, Price] = {}
    for code, entries in history.items():
        for start, price in entries:
            if start <= month:
                found[code] = price
    return found


def _history(
    rows: Iterable[ProductPrice | SkuCost], codes: dict[int, str], fallback: dict[str, Price]
) -> History:
    history: dict[str, list[tuple[str, Price]]] = {}
    for row in rows:
        owner = row.product_id if isinstance(row, ProductPrice) else row.sku_id
        history.setdefault(codes[owner], []).append(
            (row.effective_from, Price(row.amount_minor, row.currency))
        )
    # Something made without history (a test's bare Product) keeps its one price for every month.
    for code, price in fallback.items():
        history.setdefault(code, [("0001-01", price)])
    return {code: tuple(sorted(entries, key=lambda entry: entry[0])) for code, entries in history.items()}


def price_history(products: list[Product]) -> History:
    codes = {p.id: p.code for p in products}
    rows = db.session.scalars(select(ProductPrice).where(ProductPrice.product_id.in_(codes)))
    return _history(rows, codes, {p.code: Price(p.price_minor, p.currency) for p in products})


def cost_history(skus: list[LicenceSku] | None = None) -> History:
    """Every licence SKU's cost per month, by SKU code (the SPLA report, margins).

    ``skus``: every licence SKU, when the caller read them already (one query fewer).
    """
    if skus is None:
        skus = list(db.session.scalars(select(LicenceSku)))
    codes = {sku.id: sku.code for sku in skus}
    return _history(
        db.session.scalars(select(SkuCost)),
        codes,
        {s.code: Price(s.spla_cost_minor, s.currency) for s in skus},
    )


def current_period(now: datetime | None = None, tz: ZoneInfo | None = None) -> BillingPeriod:
    return BillingPeriod.containing(now or utcnow(), tz or billing_timezone())


def product_price(product: Product, period: BillingPeriod | None = None) -> Price:
    """The price rating uses for one unit of ``product`` in ``period`` (default: this month).

    The close, the estimate and the order quote all price a month with this.
    """
    month = period or current_period()
    return in_force_in(price_history([product]), month)[product.code]


def catalog_snapshot(period: BillingPeriod) -> CatalogSnapshot:
    """The catalog as it stands, with the prices in force in ``period``."""
    products = list(db.session.scalars(select(Product).options(selectinload(Product.skus))))
    history = price_history(products)
    return CatalogSnapshot(
        prices=in_force_in(history, period),
        names={p.code: p.name for p in products},
        product_ids={p.code: p.id for p in products},
        metered=frozenset(p.code for p in products if p.billing is ProductBilling.METERED),
        units={p.code: p.unit for p in products},
        bill_of_licences={p.code: [sku.code for sku in p.skus] for p in products},
        price_history=history,
    )


# Per (product code, platform): (first month "YYYY-MM", its SKU codes), oldest first.
PlacementHistory = dict[tuple[str, str], list[tuple[str, list[str]]]]


def placement_history() -> PlacementHistory:
    """Every placement's bills of licences over time, in one query."""
    history: PlacementHistory = {}
    current: dict[tuple[str, str, str], list[str]] = {}
    for product, platform, effective_from, sku in db.session.execute(
        select(Product.code, Placement.platform, Placement.effective_from, LicenceSku.code)
        .join(Product, Product.id == Placement.product_id)
        .outerjoin(placement_licences, placement_licences.c.placement_id == Placement.id)
        .outerjoin(LicenceSku, LicenceSku.id == placement_licences.c.sku_id)
        .order_by(Placement.effective_from, LicenceSku.code)
    ):
        if (product, platform, effective_from) not in current:
            skus: list[str] = []
            current[(product, platform, effective_from)] = skus
            history.setdefault((product, platform), []).append((effective_from, skus))
        if sku is not None:
            current[(product, platform, effective_from)].append(sku)
    return history


def placement_bills(
    period: BillingPeriod, history: PlacementHistory | None = None
) -> dict[tuple[str, str], list[str]]:
    """Per (product code, platform), the SKUs of the placement in force in ``period``.

    A placement that starts after ``period`` is not there yet: the month keeps the bill it had.
    """
    month = str(period)
    bills: dict[tuple[str, str], list[str]] = {}
    for key, rows in (placement_history() if history is None else history).items():
        in_force = [skus for start, skus in rows if start <= month]
        if in_force:
            bills[key] = in_force[-1]
    return bills
