"""Reading back what was accepted, so a sender can reconcile: usage events and snapshots, filtered,
one page at a time in the order they were stored (keyset pagination on the row id: a page never
repeats or skips rows however many arrive meanwhile).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from metering.usage.models import UsageEvent, UsageSnapshot
from portal.accounts.models import Client, Integration
from portal.catalog.models import Product
from portal.db import db

MAX_PAGE = 1000


@dataclass(frozen=True)
class UsageFilter:
    client: str | None = None
    product: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    after: int = 0  # the last row id of the previous page
    limit: int = 100


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_after: int | None


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def usage_event_page(sender: str | None, wanted: UsageFilter) -> Page:
    """Events in id order; ``sender`` narrows to one sender's (an integration sees only its own)."""
    query = (
        select(UsageEvent, Client.ref, Product.code)
        .join(Client, Client.id == UsageEvent.client_id)
        .join(Product, Product.id == UsageEvent.product_id)
        .where(UsageEvent.id > wanted.after)
        .order_by(UsageEvent.id)
        .limit(wanted.limit + 1)
    )
    if sender is not None:
        query = query.where(UsageEvent.sender == sender)
    if wanted.client is not None:
        query = query.where(Client.ref == wanted.client)
    if wanted.product is not None:
        query = query.where(Product.code == wanted.product)
    if wanted.since is not None:
        query = query.where(UsageEvent.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(UsageEvent.at < wanted.until)
    rows = list(db.session.execute(query))
    items: list[dict[str, Any]] = [
        {
            "sequence": event.id,
            "id": event.event_id,
            "sender": event.sender,
            "client": ref,
            "product": code,
            "user": event.user_key,
            "action": event.action.value,
            "at": _iso(event.at),
            "quantity": event.quantity,
            "received_at": _iso(event.received_at),
        }
        for event, ref, code in rows[: wanted.limit]
    ]
    more = len(rows) > wanted.limit
    return Page(items, items[-1]["sequence"] if more and items else None)


def usage_snapshot_page(integration_id: int | None, wanted: UsageFilter) -> Page:
    """Snapshots in id order; ``integration_id`` narrows to one integration's."""
    query = (
        select(UsageSnapshot, Integration.source, Client.ref, Product.code)
        .join(Integration, Integration.id == UsageSnapshot.integration_id)
        .join(Client, Client.id == UsageSnapshot.client_id)
        .join(Product, Product.id == UsageSnapshot.product_id)
        .where(UsageSnapshot.id > wanted.after)
        .order_by(UsageSnapshot.id)
        .limit(wanted.limit + 1)
    )
    if integration_id is not None:
        query = query.where(UsageSnapshot.integration_id == integration_id)
    if wanted.client is not None:
        query = query.where(Client.ref == wanted.client)
    if wanted.product is not None:
        query = query.where(Product.code == wanted.product)
    if wanted.since is not None:
        query = query.where(UsageSnapshot.as_of >= wanted.since)
    if wanted.until is not None:
        query = query.where(UsageSnapshot.as_of < wanted.until)
    rows = list(db.session.execute(query))
    items = [
        snapshot_json(snapshot, source, ref, code) for snapshot, source, ref, code in rows[: wanted.limit]
    ]
    more = len(rows) > wanted.limit
    return Page(items, items[-1]["sequence"] if more and items else None)


def snapshot_json(snapshot: UsageSnapshot, source: str, client_ref: str, product_code: str) -> dict[str, Any]:
    return {
        "sequence": snapshot.id,
        "source": source,
        "external_org": snapshot.external_org,
        "client": client_ref,
        "product": product_code,
        "as_of": _iso(snapshot.as_of),
        "users": snapshot.users,
        "quantity": snapshot.quantity,
        "received_at": _iso(snapshot.received_at),
    }
