"""Mapping Seatmeter's clients to PSA agreements and its products to PSA catalog items.

The pages read the choices from the PSA; these functions store what the reseller picked (names kept
as read, for the pages) and audit it. Services flush; the view commits.
"""

from __future__ import annotations

from sqlalchemy import select

from metering.psa.models import PsaCompanyLink, PsaProductLink
from portal.accounts.models import Client
from portal.audit.services import Actor, record
from portal.catalog.models import Product
from portal.db import db, utcnow
from portal.errors import Conflict


def company_links() -> dict[int, PsaCompanyLink]:
    return {link.client_id: link for link in db.session.scalars(select(PsaCompanyLink))}


def product_links() -> dict[int, PsaProductLink]:
    return {link.product_id: link for link in db.session.scalars(select(PsaProductLink))}


def link_client(
    actor: Actor, client: Client, company_id: int, company_name: str, agreement_id: int, agreement_name: str
) -> PsaCompanyLink:
    """Map ``client`` to a PSA company and one of its agreements (read from the PSA by the caller)."""
    link = db.session.scalars(select(PsaCompanyLink).where(PsaCompanyLink.client_id == client.id)).first()
    if link is None:
        link = PsaCompanyLink(client_id=client.id)
        db.session.add(link)
    link.company_id, link.company_name = company_id, company_name[:200]
    link.agreement_id, link.agreement_name = agreement_id, agreement_name[:200]
    link.updated_at = utcnow()
    record(
        actor,
        "psa.client_mapped",
        "client",
        client.id,
        client_id=client.id,
        details={"company_id": company_id, "agreement_id": agreement_id},
    )
    db.session.flush()
    return link


NOT_BILLED = "Not billed through the PSA"


def link_product(
    actor: Actor, product: Product, catalog_item_id: int | None, catalog_item_name: str = NOT_BILLED
) -> PsaProductLink:
    """Map ``product`` to a PSA catalog item, or (None) say it is not billed through the PSA.

    Two products on one item would each set the same addition's quantity over the other's, so an
    item already taken by another product is refused.
    """
    if catalog_item_id is not None:
        taken = db.session.scalars(
            select(PsaProductLink).where(
                PsaProductLink.catalog_item_id == catalog_item_id, PsaProductLink.product_id != product.id
            )
        ).first()
        if taken is not None:
            raise Conflict(
                f"{taken.product.name} is already {taken.catalog_item_name}: each product needs a catalog "
                "item of its own, or both would set the same agreement addition.",
                fields={"item": "Already used by another product."},
            )
    else:
        catalog_item_name = NOT_BILLED
    link = db.session.scalars(select(PsaProductLink).where(PsaProductLink.product_id == product.id)).first()
    if link is None:
        link = PsaProductLink(product_id=product.id)
        db.session.add(link)
    link.catalog_item_id, link.catalog_item_name = catalog_item_id, catalog_item_name[:200]
    link.updated_at = utcnow()
    record(actor, "psa.product_mapped", "product", product.id, details={"catalog_item_id": catalog_item_id})
    db.session.flush()
    return link
