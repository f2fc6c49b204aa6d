"""``GET /catalog``: what can be ordered, at which monthly price."""

from __future__ import annotations

from typing import Any

from portal.api.endpoints import endpoint
from portal.api.representations import product_json
from portal.catalog.services import list_products


@endpoint(
    "GET",
    "/catalog",
    summary="Products that can be ordered, with their licences and monthly price",
    tag="catalog",
    ok_schema="Catalog",
)
def get_catalog() -> dict[str, Any]:
    return {"products": [product_json(product) for product in list_products()]}
