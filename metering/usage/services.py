"""Accepting batches of usage events: all or nothing, duplicates by id, any order.

Start/stop events become ledger intervals of source ``usage``. They are always recomputed from every
stored event of the (client, user, product), so an event that arrives late or out of order lands in
the right place; only the intervals that actually changed are rewritten, so the ledger's
``created_at`` tells month close which past months to look at again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from typing import cast as type_cast

from sqlalchemy import (
    JSON,
    Integer,
    Result,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    func,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

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
from portal.db import UTCDateTime, db, utcnow
from portal.errors import InvalidInput

MAX_USAGE_BATCH = 10_000
# SQLite (3.32 on) takes up to 32,766 parameters per statement: a whole batch's ids, or its keys at
# three parameters each, fit in one IN list, so a batch costs the same statements on both databases.
_CHUNK = MAX_USAGE_BATCH
_EVENTS = type_cast(Table, UsageEvent.__table__)
_INTERVALS = type_cast(Table, LedgerInterval.__table__)
_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


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
    # Read once, after the locks: the stop check and the rebuild of the intervals both use them.
    key_events = _stored_interval_events(keys)
    for event in stops_without_start(interval_events, _earliest_starts(key_events)):
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
    inserted = _insert_events(sender.key, parsed, received_from)
    # An id another batch stored between our look-up and our insert is a duplicate all the same.
    duplicates += len(parsed) - len(inserted)
    parsed = [event for event in parsed if event.event_id in inserted]
    for event in parsed:
        if event.action is not UsageAction.USAGE:
            key_events[event.key].append((event.action, event.at))
    changed = rebuild_usage_intervals(keys, key_events)
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


def _on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _array(values: Sequence[Any], item_type: Any) -> Any:
    return bindparam(None, list(values), type_=ARRAY(item_type))


def _matching(column: Any, values: Sequence[Any]) -> list[Any]:
    """Conditions that together select ``column`` in ``values``.

    PostgreSQL: one ``= ANY(array)``, a single parameter whatever the batch size, so the statement
    and its plan are the same for every batch (a cached generic plan for ``IN (…500 params)`` on a
    never-analysed table was the slowest thing ingestion did). SQLite: ``IN`` lists in chunks.
    """
    if not values:
        return []
    if _on_postgresql():
        return [column == any_(_array(values, column.type))]
    return [column.in_(chunk) for chunk in _chunks(values)]


def _stored_event_ids(sender: str, event_ids: set[str | None]) -> set[str]:
    ids = sorted(event_id for event_id in event_ids if event_id is not None)
    found: set[str] = set()
    for condition in _matching(UsageEvent.event_id, ids):
        found.update(
            db.session.scalars(select(UsageEvent.event_id).where(UsageEvent.sender == sender, condition))
        )
    return found


def _insert_events(sender: str, events: Sequence[ParsedEvent], received_from: str) -> set[str]:
    """Insert the events in bulk; returns the ids actually inserted (the rest were already stored)."""
    if not events:
        return set()
    received_at = utcnow()
    rows = [
        {
            "sender": sender,
            "event_id": event.event_id,
            "client_id": event.client_id,
            "product_id": event.product_id,
            "user_key": event.user_key,
            "action": event.action,
            "at": event.at,
            "quantity": event.quantity,
            "received_at": received_at,
            "received_from": received_from,
        }
        for event in events
    ]
    inserted = _insert_rows(
        _EVENTS, rows, skip_conflicts_on=["sender", "event_id"], returning=_EVENTS.c.event_id
    )
    return set(inserted.scalars())


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value")


def _as_json_rows(table: Table, rows: Sequence[dict[str, Any]]) -> Any:
    """``rows`` as a table in the FROM clause, typed as ``table``'s rows: one JSON parameter.

    psycopg writes a list parameter element by element in Python (a regular expression per string
    to decide its quoting), which cost more than PostgreSQL spent inserting; ``json.dumps`` is C,
    and ``json_populate_recordset`` reads each value into its column's type.
    """
    payload = json.dumps(rows, default=_json_value, separators=(",", ":"))
    return func.json_populate_recordset(
        literal_column(f"NULL::{table.name}"), cast(bindparam(None, payload, String()), JSON)
    ).table_valued(*rows[0])


def _insert_rows(
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    skip_conflicts_on: list[str] | None = None,
    returning: Any = None,
) -> Result[Any]:
    """One INSERT for all ``rows``.

    PostgreSQL: ``INSERT … SELECT`` from one JSON parameter: the same short statement for every
    batch (a multi-row VALUES list is a new, long statement every time, and turning it into the
    wire format costs more than the database spends inserting). SQLite: an executemany, which
    SQLAlchemy sends as multi-row VALUES.
    """
    statement: Any
    if _on_postgresql():
        source = _as_json_rows(table, rows)
        statement = pg_insert(table).from_select(list(rows[0]), select(*source.c))
    else:
        # As few statements as SQLite's parameter limit allows (SQLAlchemy pages at 1,000 rows).
        statement = sqlite_insert(table).execution_options(insertmanyvalues_page_size=MAX_USAGE_BATCH)
    if skip_conflicts_on is not None:
        statement = statement.on_conflict_do_nothing(index_elements=skip_conflicts_on)
    if returning is not None:
        statement = statement.returning(returning)
    if _on_postgresql():
        return db.session.execute(statement)
    return db.session.execute(statement, list(rows))


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
    for condition in _matching(Client.ref, [ref for ref in refs if isinstance(ref, str)]):
        rows = db.session.execute(select(Client.ref, Client.id).where(condition))
        clients.update({ref: client_id for ref, client_id in rows})
    products = {
        code: ProductInfo(id=product_id, billing=billing)
        for code, product_id, billing in db.session.execute(select(Product.code, Product.id, Product.billing))
    }
    return clients, products


def _lock_clients(client_ids: list[int]) -> None:
    """Serialize batches per client (PostgreSQL row locks, in id order; SQLite serializes writers)."""
    for condition in _matching(Client.id, client_ids):
        db.session.execute(select(Client.id).where(condition).order_by(Client.id).with_for_update())


def _for_keys(
    query: _Query, keys: set[UsageKey], client_col: Any, product_col: Any, user_col: Any
) -> list[_Query]:
    """``query`` narrowed to the rows of ``keys``: one join on the keys as arrays on PostgreSQL,
    row-value IN lists on SQLite."""
    if not keys:
        return []
    if _on_postgresql():
        ordered = sorted(keys)
        wanted = (
            func.unnest(
                _array([key[0] for key in ordered], Integer()),
                _array([key[1] for key in ordered], Integer()),
                _array([key[2] for key in ordered], String()),
            )
            .table_valued("client_id", "product_id", "user_key")
            .render_derived()
        )
        return [
            query.join(
                wanted,
                and_(
                    client_col == wanted.c.client_id,
                    product_col == wanted.c.product_id,
                    user_col == wanted.c.user_key,
                ),
            )
        ]
    return [
        query.where(tuple_(client_col, product_col, user_col).in_(chunk)) for chunk in _chunks(sorted(keys))
    ]


def _usage_key(client_id: int, product_id: int, user_key: str | None) -> UsageKey:
    # Start and stop events, and the usage intervals made of them, always name a person: the
    # tables' check constraints say so, the column types cannot.
    if user_key is None:
        raise ValueError("a start/stop event or usage interval without a person")
    return (client_id, product_id, user_key)


KeyEvents = defaultdict[UsageKey, list[tuple[UsageAction, datetime]]]


def _stored_interval_events(keys: set[UsageKey]) -> KeyEvents:
    """The stored start and stop events of each key, in one statement (chunks on SQLite)."""
    events: KeyEvents = defaultdict(list)
    query = select(
        UsageEvent.client_id, UsageEvent.product_id, UsageEvent.user_key, UsageEvent.action, UsageEvent.at
    ).where(UsageEvent.action != UsageAction.USAGE)
    for narrowed in _for_keys(query, keys, UsageEvent.client_id, UsageEvent.product_id, UsageEvent.user_key):
        for client_id, product_id, user_key, action, at in db.session.execute(narrowed):
            events[_usage_key(client_id, product_id, user_key)].append((action, at))
    return events


def _earliest_starts(events: KeyEvents) -> dict[UsageKey, datetime]:
    earliest: dict[UsageKey, datetime] = {}
    for key, key_events in events.items():
        starts = [at for action, at in key_events if action is UsageAction.START]
        if starts:
            earliest[key] = min(starts)
    return earliest


@dataclass(frozen=True)
class _StoredInterval:
    id: int
    start_at: datetime
    stop_at: datetime | None


def rebuild_usage_intervals(keys: set[UsageKey], stored_events: KeyEvents | None = None) -> int:
    """Make the ``usage`` intervals of each key match its stored events. Returns rows changed.

    ``stored_events``: the keys' start and stop events as stored now, when the caller has them
    (read from the database otherwise). Reads with one statement per table and writes with one
    bulk statement per kind of change (insert, move a stop, delete), not through the ORM.
    """
    if not keys:
        return 0
    events = _stored_interval_events(keys) if stored_events is None else stored_events
    existing: defaultdict[UsageKey, list[_StoredInterval]] = defaultdict(list)
    interval_query = select(
        LedgerInterval.id,
        LedgerInterval.client_id,
        LedgerInterval.product_id,
        LedgerInterval.user_key,
        LedgerInterval.start_at,
        LedgerInterval.stop_at,
    ).where(LedgerInterval.source == IntervalSource.USAGE)
    for interval_rows in _for_keys(
        interval_query, keys, LedgerInterval.client_id, LedgerInterval.product_id, LedgerInterval.user_key
    ):
        for interval_id, client_id, product_id, user_key, start_at, stop_at in db.session.execute(
            interval_rows
        ):
            existing[_usage_key(client_id, product_id, user_key)].append(
                _StoredInterval(interval_id, start_at, stop_at)
            )

    end_users = _end_users_by_email(keys)
    new_rows: list[dict[str, Any]] = []
    moved_stops: list[dict[str, Any]] = []
    removed: list[int] = []
    now = utcnow()
    for key in sorted(keys):
        wanted = set(intervals_from_events(events[key]))
        have = {(interval.start_at, interval.stop_at): interval for interval in existing[key]}
        # A row whose start is still wanted keeps its identity and only its stop moves (stops only
        # ever move earlier as events accumulate), so month close sees a change from the new stop on.
        stale = {span[0]: interval for span, interval in have.items() if span not in wanted}
        client_id, product_id, user_key = key
        for start_at, stop_at in sorted(wanted - have.keys(), key=lambda span: span[0]):
            reused = stale.pop(start_at, None)
            if reused is not None:
                moved_stops.append({"row_id": reused.id, "new_stop": stop_at})
                continue
            new_rows.append(
                {
                    "client_id": client_id,
                    "product_id": product_id,
                    "user_key": user_key,
                    "end_user_id": end_users.get((client_id, user_key)),
                    "seat_id": None,
                    "source": IntervalSource.USAGE,
                    "start_at": start_at,
                    "stop_at": stop_at,
                    "platform": None,
                    "created_at": now,
                }
            )
        removed.extend(interval.id for interval in stale.values())
    _write_interval_changes(new_rows, moved_stops, removed, now)
    return len(new_rows) + len(moved_stops) + len(removed)


def _write_interval_changes(
    new_rows: list[dict[str, Any]], moved_stops: list[dict[str, Any]], removed: list[int], now: datetime
) -> None:
    table = _INTERVALS
    for condition in _matching(table.c.id, removed):
        db.session.execute(delete(table).where(condition))
    if moved_stops and _on_postgresql():
        moved = (
            func.unnest(
                _array([row["row_id"] for row in moved_stops], Integer()),
                _array([row["new_stop"] for row in moved_stops], UTCDateTime()),
            )
            .table_valued("row_id", "new_stop")
            .render_derived()
        )
        db.session.execute(
            update(table).where(table.c.id == moved.c.row_id).values(stop_at=moved.c.new_stop, updated_at=now)
        )
    elif moved_stops:
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(stop_at=bindparam("new_stop"), updated_at=now),
            moved_stops,
        )
    if new_rows:
        _insert_rows(table, new_rows)
    if removed or moved_stops:
        # Rows changed behind the unit of work: anything the session holds of them is out of date.
        for instance in list(db.session.identity_map.values()):
            if isinstance(instance, LedgerInterval):
                db.session.expire(instance)


def _end_users_by_email(keys: set[UsageKey]) -> dict[tuple[int, str], int]:
    """Link usage intervals to the client's end user with that e-mail, when there is one."""
    pairs = sorted({(client_id, user_key) for client_id, _product_id, user_key in keys})
    found: dict[tuple[int, str], int] = {}
    query = select(EndUser.client_id, EndUser.email, EndUser.id)
    if _on_postgresql():
        wanted = (
            func.unnest(
                _array([pair[0] for pair in pairs], Integer()), _array([pair[1] for pair in pairs], String())
            )
            .table_valued("client_id", "email")
            .render_derived()
        )
        narrowed = [
            query.join(wanted, and_(EndUser.client_id == wanted.c.client_id, EndUser.email == wanted.c.email))
        ]
    else:
        narrowed = [
            query.where(tuple_(EndUser.client_id, EndUser.email).in_(chunk)) for chunk in _chunks(pairs)
        ]
    for statement in narrowed:
        for client_id, email, end_user_id in db.session.execute(statement):
            found[(client_id, email.lower())] = end_user_id
    return found
