"""Accepting batches of usage events: all or nothing, duplicates by id, any order.

Start/stop events become ledger intervals of source ``usage``. They are always recomputed from every
stored event of the (client, user, product), so an event that arrives late or out of order lands in
the right place; only the intervals that actually changed are rewritten, so the ledger's
``created_at`` tells month close which past months to look at again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from metering.ledger.models import IntervalSource, LedgerInterval
from metering.usage.models import UsageAction, UsageEvent
from metering.usage.senders import ClientScope, Sender, UnmappedSources, client_scope, unmapped_message
from metering.usage.validation import (
    ParsedEvent,
    ProductInfo,
    UsageKey,
    event_id_of,
    intervals_from_events,
    parse_event,
    stops_without_start,
)
from portal.accounts.integration_services import clean_external_org
from portal.accounts.models import Client, EndUser
from portal.audit.services import Actor, record
from portal.catalog.models import Product
from portal.db import db
from portal.errors import InvalidInput

MAX_USAGE_BATCH = 10_000
_CHUNK = 500


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


def _default_label(index: int) -> str:
    return f"events[{index}]"


def ingest_usage_events(
    actor: Actor,
    raw_events: Any,
    *,
    sender: Sender | None = None,
    label: Callable[[int], str] = _default_label,
    max_batch: int | None = MAX_USAGE_BATCH,
) -> IngestResult:
    """Apply a batch of usage events atomically, or raise InvalidInput with one error per bad event.

    An event whose id this ``sender`` sent before (stored, or earlier in this batch) is a duplicate:
    it is counted and otherwise ignored. Another sender's event with the same id is another event.
    An integration names its organisation ids (``external_org``) or clients mapped to it; an
    unmapped organisation id raises :class:`UnmappedSources`, naming it.
    """
    sender = sender or Sender.reseller()
    if not isinstance(raw_events, list):
        raise InvalidInput("Send the events as a list.", fields={"events": "Must be a list of events."})
    if max_batch is not None and len(raw_events) > max_batch:
        raise InvalidInput(
            f"At most {max_batch:,} events per batch.", fields={"events": f"At most {max_batch:,} events."}
        )

    stored_ids = _stored_event_ids(sender.key, {event_id_of(raw) for raw in raw_events} - {None})
    seen: set[str] = set()
    fresh: list[tuple[int, Any]] = []
    duplicates = 0
    for index, raw in enumerate(raw_events):
        event_id = event_id_of(raw)
        if event_id is not None and (event_id in stored_ids or event_id in seen):
            duplicates += 1
            continue
        if event_id is not None:
            seen.add(event_id)
        fresh.append((index, raw))

    errors: dict[int, str] = {}
    unmapped: set[str] = set()
    scope = client_scope(sender, _external_orgs(fresh))
    resolved = _resolve_organisations(sender, scope, fresh, errors, unmapped)
    clients, products = _lookups(resolved)
    if scope.refs is not None:
        # An integration names only the clients mapped to it; any other is an unknown client.
        clients = {ref: client_id for ref, client_id in clients.items() if ref in scope.refs}
    parsed: list[ParsedEvent] = []
    for index, raw in resolved:
        event, problems = parse_event(index, raw, clients, products)
        if event is None:
            errors[index] = _describe(raw, problems)
        else:
            parsed.append(event)

    client_ids = sorted({event.client_id for event in parsed})
    _lock_clients(client_ids)
    interval_events = [event for event in parsed if event.action is not UsageAction.USAGE]
    keys = {event.key for event in interval_events}
    for event in stops_without_start(interval_events, _earliest_stored_starts(keys)):
        errors[event.index] = _describe(
            raw_events[event.index],
            ["a stop with no earlier start for this client, user and product"],
        )

    if unmapped and sender.integration is not None:
        raise UnmappedSources(
            unmapped_message(sender.integration, unmapped),
            integration_id=sender.integration.id,
            external_orgs=unmapped,
            fields={label(index): errors[index] for index in sorted(errors)},
        )
    if errors:
        raise InvalidInput(
            f"{len(errors)} of {len(raw_events)} events are invalid; none of the batch was applied.",
            fields={label(index): errors[index] for index in sorted(errors)},
        )

    received_from = actor.label[:300]
    db.session.add_all(
        UsageEvent(
            sender=sender.key,
            event_id=event.event_id,
            client_id=event.client_id,
            product_id=event.product_id,
            user_key=event.user_key,
            action=event.action,
            at=event.at,
            quantity=event.quantity,
            received_from=received_from,
        )
        for event in parsed
    )
    db.session.flush()
    changed = rebuild_usage_intervals(keys)
    if parsed or duplicates:
        record(
            actor,
            "usage.events_accepted",
            "usage_events",
            client_id=client_ids[0] if len(client_ids) == 1 else None,
            details={
                "accepted": len(parsed),
                "duplicates": duplicates,
                "clients": len(client_ids),
                "intervals_changed": changed,
            },
        )
    return IngestResult(accepted=len(parsed), duplicates=duplicates)


def _describe(raw: Any, problems: list[str]) -> str:
    event_id = event_id_of(raw)
    prefix = f"event {event_id!r}: " if event_id else ""
    return prefix + "; ".join(problems)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stored_event_ids(sender: str, event_ids: set[str | None]) -> set[str]:
    ids = sorted(event_id for event_id in event_ids if event_id is not None)
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(
            db.session.scalars(
                select(UsageEvent.event_id).where(UsageEvent.sender == sender, UsageEvent.event_id.in_(chunk))
            )
        )
    return found


def _external_orgs(fresh: list[tuple[int, Any]]) -> list[str]:
    orgs = {clean_external_org(raw.get("external_org")) for _, raw in fresh if isinstance(raw, dict)}
    return sorted(org for org in orgs if org is not None)


def _resolve_organisations(
    sender: Sender,
    scope: ClientScope,
    fresh: list[tuple[int, Any]],
    errors: dict[int, str],
    unmapped: set[str],
) -> list[tuple[int, Any]]:
    """Events naming an ``external_org``, with the client it is mapped to; problems go to ``errors``."""
    resolved: list[tuple[int, Any]] = []
    for index, raw in fresh:
        if not isinstance(raw, dict) or "external_org" not in raw:
            resolved.append((index, raw))
            continue
        org = clean_external_org(raw.get("external_org"))
        if sender.integration is None:
            problem = "“external_org” is for integration tokens: name the client instead"
        elif org is None:
            problem = "“external_org” must be the organisation or site id, at most 200 characters"
        elif "client" in raw:
            problem = "send “client” or “external_org”, not both"
        elif org not in scope.orgs:
            unmapped.add(org)
            problem = f"organisation {org!r} is not mapped to a client"
        else:
            resolved.append((index, {**raw, "client": scope.orgs[org]}))
            continue
        errors[index] = _describe(raw, [problem])
    return resolved


def _lookups(fresh: list[tuple[int, Any]]) -> tuple[dict[str, int], dict[str, ProductInfo]]:
    refs = sorted({raw.get("client") for _, raw in fresh if isinstance(raw, dict)} - {None}, key=str)
    clients: dict[str, int] = {}
    for chunk in _chunks([ref for ref in refs if isinstance(ref, str)]):
        rows = db.session.execute(select(Client.ref, Client.id).where(Client.ref.in_(chunk)))
        clients.update({ref: client_id for ref, client_id in rows})
    products = {
        code: ProductInfo(id=product_id, billing=billing)
        for code, product_id, billing in db.session.execute(select(Product.code, Product.id, Product.billing))
    }
    return clients, products


def _lock_clients(client_ids: list[int]) -> None:
    """Serialize batches per client (PostgreSQL row locks, in id order; SQLite serializes writers)."""
    for chunk in _chunks(client_ids):
        db.session.execute(
            select(Client.id).where(Client.id.in_(chunk)).order_by(Client.id).with_for_update()
        )


def _key_filters(keys: Iterable[UsageKey], client_col: Any, product_col: Any, user_col: Any) -> list[Any]:
    by_pair: defaultdict[tuple[int, int], list[str]] = defaultdict(list)
    for client_id, product_id, user_key in keys:
        by_pair[(client_id, product_id)].append(user_key)
    filters = []
    for (client_id, product_id), users in sorted(by_pair.items()):
        for chunk in _chunks(sorted(users)):
            filters.append(and_(client_col == client_id, product_col == product_id, user_col.in_(chunk)))
    return filters


def _usage_key(client_id: int, product_id: int, user_key: str | None) -> UsageKey:
    # Start and stop events, and the usage intervals made of them, always name a person: the
    # tables' check constraints say so, the column types cannot.
    if user_key is None:
        raise ValueError("a start/stop event or usage interval without a person")
    return (client_id, product_id, user_key)


def _earliest_stored_starts(keys: set[UsageKey]) -> dict[UsageKey, datetime]:
    earliest: dict[UsageKey, datetime] = {}
    filters = _key_filters(keys, UsageEvent.client_id, UsageEvent.product_id, UsageEvent.user_key)
    for chunk in _chunks(filters, 50):
        rows = db.session.execute(
            select(UsageEvent.client_id, UsageEvent.product_id, UsageEvent.user_key, func.min(UsageEvent.at))
            .where(UsageEvent.action == UsageAction.START, or_(*chunk))
            .group_by(UsageEvent.client_id, UsageEvent.product_id, UsageEvent.user_key)
        )
        for client_id, product_id, user_key, at in rows:
            earliest[_usage_key(client_id, product_id, user_key)] = at
    return earliest


def rebuild_usage_intervals(keys: set[UsageKey]) -> int:
    """Make the ``usage`` intervals of each key match its stored events. Returns rows changed."""
    if not keys:
        return 0
    events: defaultdict[UsageKey, list[tuple[UsageAction, datetime]]] = defaultdict(list)
    existing: defaultdict[UsageKey, list[LedgerInterval]] = defaultdict(list)
    filters = _key_filters(keys, UsageEvent.client_id, UsageEvent.product_id, UsageEvent.user_key)
    interval_filters = _key_filters(
        keys, LedgerInterval.client_id, LedgerInterval.product_id, LedgerInterval.user_key
    )
    for chunk in _chunks(filters, 50):
        rows = db.session.execute(
            select(
                UsageEvent.client_id,
                UsageEvent.product_id,
                UsageEvent.user_key,
                UsageEvent.action,
                UsageEvent.at,
            ).where(UsageEvent.action != UsageAction.USAGE, or_(*chunk))
        )
        for client_id, product_id, user_key, action, at in rows:
            events[_usage_key(client_id, product_id, user_key)].append((action, at))
    for chunk in _chunks(interval_filters, 50):
        for interval in db.session.scalars(
            select(LedgerInterval).where(LedgerInterval.source == IntervalSource.USAGE, or_(*chunk))
        ):
            existing[_usage_key(interval.client_id, interval.product_id, interval.user_key)].append(interval)

    end_users = _end_users_by_email(keys)
    changed = 0
    for key in sorted(keys):
        wanted = set(intervals_from_events(events[key]))
        have = {(interval.start_at, interval.stop_at): interval for interval in existing[key]}
        # A row whose start is still wanted keeps its identity and only its stop moves (stops only
        # ever move earlier as events accumulate), so month close sees a change from the new stop on.
        stale = {span[0]: interval for span, interval in have.items() if span not in wanted}
        client_id, product_id, user_key = key
        for start_at, stop_at in sorted(wanted - have.keys(), key=lambda span: span[0]):
            changed += 1
            reused = stale.pop(start_at, None)
            if reused is not None:
                reused.stop_at = stop_at
                continue
            db.session.add(
                LedgerInterval(
                    client_id=client_id,
                    product_id=product_id,
                    user_key=user_key,
                    end_user_id=end_users.get((client_id, user_key)),
                    source=IntervalSource.USAGE,
                    start_at=start_at,
                    stop_at=stop_at,
                )
            )
        for interval in stale.values():
            db.session.delete(interval)
            changed += 1
    db.session.flush()
    return changed


def _end_users_by_email(keys: set[UsageKey]) -> dict[tuple[int, str], int]:
    """Link usage intervals to the client's end user with that e-mail, when there is one."""
    wanted: defaultdict[int, set[str]] = defaultdict(set)
    for client_id, _product_id, user_key in keys:
        wanted[client_id].add(user_key)
    found: dict[tuple[int, str], int] = {}
    for client_id, emails in wanted.items():
        for chunk in _chunks(sorted(emails)):
            rows = db.session.execute(
                select(EndUser.email, EndUser.id).where(
                    EndUser.client_id == client_id, EndUser.email.in_(chunk)
                )
            )
            for email, end_user_id in rows:
                found[(client_id, email.lower())] = end_user_id
    return found
