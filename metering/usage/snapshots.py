"""Usage snapshots: "as of this moment, these people hold the product" or "this many devices".

A snapshot is stored as sent, keyed by (integration, organisation, product, moment): the same one
again changes nothing, a different one for the same key replaces it. The ``snapshot`` intervals
of a client's per-user product are then derived again from *all* its stored snapshots in moment
order (:func:`metering.counting.intervals_from_snapshots`), so snapshots may arrive in any order
and a late, older one lands where it belongs. Per-device products make no intervals: month close
bills the peak (or average) of their snapshots (:func:`metering.counting.count_snapshot_devices`).
"""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from metering.counting import DeviceSnapshot, PeopleSnapshot, intervals_from_snapshots
from metering.ledger.models import IntervalSource, LedgerInterval
from metering.usage.models import SnapshotAggregate, SnapshotRule, UsageSnapshot
from metering.usage.senders import Sender, UnmappedSources, unmapped_message
from metering.usage.validation import MAX_QUANTITY, MAX_USER_LENGTH, parse_timestamp
from portal.accounts.integration_services import clean_external_org, get_integration_by_source, mapped_clients
from portal.accounts.models import Client, EndUser, Integration
from portal.audit.services import Actor, record
from portal.catalog.models import Product, ProductBilling
from portal.db import db
from portal.errors import InvalidInput, NotFound, PermissionDenied

MAX_SNAPSHOT_USERS = 10_000
_USER_RE = re.compile(r"[^\s]+")


class SnapshotOutcome(enum.StrEnum):
    CREATED = "created"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SnapshotResult:
    snapshot: UsageSnapshot
    outcome: SnapshotOutcome
    intervals_changed: int


def _integration_for(sender: Sender, source: Any) -> Integration:
    if not isinstance(source, str) or not source.strip():
        raise InvalidInput("Say which integration sends this.", fields={"source": "Required."})
    if sender.integration is not None:
        if source.strip().lower() != sender.integration.source:
            raise PermissionDenied(
                f"This token sends for “{sender.integration.source}” only, not “{source.strip()[:64]}”."
            )
        return sender.integration
    try:
        return get_integration_by_source(source)
    except NotFound as error:
        raise InvalidInput(error.message, fields={"source": "No such integration."}) from None


def _users_of(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise InvalidInput("“users” must be a list of e-mail addresses.", fields={"users": "Must be a list."})
    if len(value) > MAX_SNAPSHOT_USERS:
        raise InvalidInput(
            f"At most {MAX_SNAPSHOT_USERS:,} users per snapshot.", fields={"users": "Too many users."}
        )
    users: set[str] = set()
    for index, item in enumerate(value):
        text = item.strip() if isinstance(item, str) else ""
        if not _USER_RE.fullmatch(text) or len(text) > MAX_USER_LENGTH:
            raise InvalidInput(
                "Each user must be an e-mail address or user name without spaces.",
                fields={f"users[{index}]": "Not a user name."},
            )
        users.add(text.lower())
    return sorted(users)


def put_usage_snapshot(actor: Actor, sender: Sender, body: dict[str, Any]) -> SnapshotResult:
    """Store one snapshot (idempotent by its key) and derive the client's ledger from its snapshots."""
    integration = _integration_for(sender, body.get("source"))
    org = clean_external_org(body.get("external_org"))
    if org is None:
        raise InvalidInput(
            "Give the organisation or site id the snapshot is of.",
            fields={"external_org": "Required, at most 200 characters."},
        )
    client = mapped_clients(integration.id, [org]).get(org)
    if client is None:
        raise UnmappedSources(
            unmapped_message(integration, [org]),
            integration_id=integration.id,
            external_orgs=[org],
            fields={"external_org": f"{org!r} is not mapped to a client."},
        )
    code = body.get("product")
    product = (
        db.session.scalars(select(Product).where(Product.code == code)).first()
        if isinstance(code, str)
        else None
    )
    if product is None:
        raise InvalidInput(f"Unknown product {str(code)[:40]!r}.", fields={"product": "Unknown product."})
    as_of, problem = parse_timestamp(body.get("as_of"))
    if problem or as_of is None:
        message = (problem or "").replace("“at”", "“as_of”")
        raise InvalidInput(message, fields={"as_of": message})
    users: list[str] | None = None
    quantity: int | None = None
    if product.billing is ProductBilling.METERED:
        quantity = body.get("quantity")
        if "users" in body or not isinstance(quantity, int) or isinstance(quantity, bool):
            raise InvalidInput(
                f"{product.code} is counted per device: send “quantity”, a whole number from 0.",
                fields={"quantity": "Required for a per-device product."},
            )
        if not 0 <= quantity <= MAX_QUANTITY:
            raise InvalidInput(
                f"“quantity” must be from 0 to {MAX_QUANTITY:,}.", fields={"quantity": "Out of range."}
            )
    else:
        if "quantity" in body or "users" not in body:
            raise InvalidInput(
                f"{product.code} is licensed per user: send “users”, the people who hold it now.",
                fields={"users": "Required for a per-user product."},
            )
        users = _users_of(body.get("users"))

    # Serialize snapshots of one client, as usage batches do (PostgreSQL row lock).
    db.session.execute(select(Client.id).where(Client.id == client.id).with_for_update())
    as_of = as_of.astimezone(UTC)
    snapshot = db.session.scalars(
        select(UsageSnapshot).where(
            UsageSnapshot.integration_id == integration.id,
            UsageSnapshot.external_org == org,
            UsageSnapshot.product_id == product.id,
            UsageSnapshot.as_of == as_of,
        )
    ).first()
    if snapshot is not None and snapshot.users == users and snapshot.quantity == quantity:
        return SnapshotResult(snapshot, SnapshotOutcome.UNCHANGED, 0)
    outcome = SnapshotOutcome.REPLACED if snapshot is not None else SnapshotOutcome.CREATED
    if snapshot is None:
        snapshot = UsageSnapshot(
            integration_id=integration.id,
            external_org=org,
            client_id=client.id,
            product_id=product.id,
            as_of=as_of,
        )
        db.session.add(snapshot)
    snapshot.users = users
    snapshot.quantity = quantity
    snapshot.received_from = actor.label[:300]
    db.session.flush()
    changed = rebuild_snapshot_intervals(client.id, product.id) if users is not None else 0
    record(
        actor,
        "usage.snapshot_accepted",
        "usage_snapshot",
        snapshot.id,
        client_id=client.id,
        details={
            "source": integration.source,
            "external_org": org,
            "product": product.code,
            "as_of": as_of.isoformat(),
            "outcome": outcome.value,
            "users": len(users) if users is not None else None,
            "quantity": quantity,
            "intervals_changed": changed,
        },
    )
    return SnapshotResult(snapshot, outcome, changed)


def rebuild_snapshot_intervals(client_id: int, product_id: int) -> int:
    """Make the ``snapshot`` intervals of a client's product match its snapshots. Returns rows changed."""
    snapshots = [
        PeopleSnapshot(stream=f"{integration_id}:{org}", as_of=as_of, users=frozenset(users or ()))
        for integration_id, org, as_of, users in db.session.execute(
            select(
                UsageSnapshot.integration_id,
                UsageSnapshot.external_org,
                UsageSnapshot.as_of,
                UsageSnapshot.users,
            ).where(
                UsageSnapshot.client_id == client_id,
                UsageSnapshot.product_id == product_id,
                UsageSnapshot.users.is_not(None),
            )
        )
    ]
    wanted = intervals_from_snapshots(snapshots)
    existing: defaultdict[str, list[LedgerInterval]] = defaultdict(list)
    for interval in db.session.scalars(
        select(LedgerInterval).where(
            LedgerInterval.client_id == client_id,
            LedgerInterval.product_id == product_id,
            LedgerInterval.source == IntervalSource.SNAPSHOT,
        )
    ):
        existing[interval.user_key or ""].append(interval)
    end_users = {
        email.lower(): end_user_id
        for email, end_user_id in db.session.execute(
            select(EndUser.email, EndUser.id).where(EndUser.client_id == client_id)
        )
    }
    changed = 0
    for user in sorted(wanted.keys() | existing.keys()):
        spans = set(wanted.get(user, ()))
        have = {(row.start_at, row.stop_at): row for row in existing.get(user, ())}
        stale = {span[0]: row for span, row in have.items() if span not in spans}
        for start_at, stop_at in sorted(spans - have.keys(), key=lambda span: span[0]):
            changed += 1
            reused = stale.get(start_at)
            # Closing an interval or moving its stop earlier keeps the row (month close looks from
            # the new stop on); anything else is a new row, which it looks at from its start.
            old_stop = reused.stop_at if reused is not None else None
            if reused is not None and stop_at is not None and (old_stop is None or stop_at < old_stop):
                reused.stop_at = stop_at
                del stale[start_at]
                continue
            db.session.add(
                LedgerInterval(
                    client_id=client_id,
                    product_id=product_id,
                    user_key=user,
                    end_user_id=end_users.get(user),
                    source=IntervalSource.SNAPSHOT,
                    start_at=start_at,
                    stop_at=stop_at,
                )
            )
        for row in stale.values():
            db.session.delete(row)
            changed += 1
    db.session.flush()
    return changed


def set_snapshot_aggregate(actor: Actor, product: Product, aggregate: SnapshotAggregate) -> None:
    """Bill a per-device product on the month's peak (the default) or on its average."""
    if product.billing is not ProductBilling.METERED:
        raise InvalidInput(
            f"{product.name} is licensed per user; only per-device products are billed on a peak or average.",
            fields={"product": "Not a per-device product."},
        )
    rule = db.session.get(SnapshotRule, product.id)
    if rule is None:
        db.session.add(SnapshotRule(product_id=product.id, aggregate=aggregate))
    else:
        rule.aggregate = aggregate
    db.session.flush()
    record(
        actor,
        "usage.snapshot_rule_set",
        "product",
        product.id,
        details={"product": product.code, "aggregate": aggregate.value},
    )


def averaged_products() -> frozenset[str]:
    """Codes of the per-device products billed on the average of their snapshots."""
    return frozenset(
        db.session.scalars(
            select(Product.code)
            .join(SnapshotRule, SnapshotRule.product_id == Product.id)
            .where(SnapshotRule.aggregate == SnapshotAggregate.AVERAGE)
        )
    )


def snapshot_rules() -> dict[int, SnapshotAggregate]:
    return {rule.product_id: rule.aggregate for rule in db.session.scalars(select(SnapshotRule))}


def device_snapshots(
    start: datetime, stop: datetime, client_id: int | None = None
) -> dict[int, list[DeviceSnapshot]]:
    """Per client id, its per-device snapshots taken in ``[start, stop)``."""
    query = (
        select(
            UsageSnapshot.client_id,
            Client.ref,
            Product.code,
            UsageSnapshot.integration_id,
            UsageSnapshot.external_org,
            UsageSnapshot.as_of,
            UsageSnapshot.quantity,
        )
        .join(Product, Product.id == UsageSnapshot.product_id)
        .join(Client, Client.id == UsageSnapshot.client_id)
        .where(UsageSnapshot.quantity.is_not(None), UsageSnapshot.as_of >= start, UsageSnapshot.as_of < stop)
    )
    if client_id is not None:
        query = query.where(UsageSnapshot.client_id == client_id)
    found: defaultdict[int, list[DeviceSnapshot]] = defaultdict(list)
    for owner, ref, code, integration_id, org, as_of, quantity in db.session.execute(query):
        if quantity is None:  # excluded by the query; says so to the type checker
            continue
        found[owner].append(
            DeviceSnapshot(
                client=ref, product=code, stream=f"{integration_id}:{org}", as_of=as_of, quantity=quantity
            )
        )
    return dict(found)
