"""The catalog as rating needs it: prices, names, units and bills of licences, read once per run."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from metering.rating import Price
from portal.catalog.models import Product, ProductBilling
from portal.db import db


@dataclass(frozen=True)
class CatalogSnapshot:
    prices: dict[str, Price]
    names: dict[str, str]
    product_ids: dict[str, int]
    metered: frozenset[str]
    # What one unit of each product is: "user", "minute".
    units: dict[str, str]
    bill_of_licences: dict[str, list[str]]


def product_price(product: Product) -> Price:
    """The price rating uses for one unit of ``product``: the close, the estimate and the order quote."""
    return Price(product.price_minor, product.currency)


def catalog_snapshot() -> CatalogSnapshot:
    products = list(db.session.scalars(select(Product).options(selectinload(Product.skus))))
    return CatalogSnapshot(
        prices={p.code: product_price(p) for p in products},
        names={p.code: p.name for p in products},
        product_ids={p.code: p.id for p in products},
        metered=frozenset(p.code for p in products if p.billing is ProductBilling.METERED),
        units={p.code: p.unit for p in products},
        bill_of_licences={p.code: [sku.code for sku in p.skus] for p in products},
    )
