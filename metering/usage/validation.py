"""Checking usage events one by one, and the start/stop rule across a batch and what is stored.

Pure functions: the caller looks up clients, products and stored events and passes them in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from metering.periods import FIRST_PERIOD, LAST_PERIOD, BillingPeriod
from metering.usage.models import UsageAction
from portal.catalog.models import ProductBilling

MAX_EVENT_ID_LENGTH = 200
MAX_USER_LENGTH = 254
MAX_QUANTITY = 10**9
_USER_RE = re.compile(r"[^\s]+")

# (client_id, product_id, user_key): the unit whose start/stop events make licence intervals.
UsageKey = tuple[int, int, str]


@dataclass(frozen=True)
class ProductInfo:
    id: int
    billing: ProductBilling


@dataclass(frozen=True)
class ParsedEvent:
    index: int  # position in the batch, for error messages
    event_id: str
    client_id: int
    product_id: int
    user_key: str | None
    action: UsageAction
    at: datetime
    quantity: int | None

    @property
    def key(self) -> UsageKey:
        assert self.user_key is not None
        return (self.client_id, self.product_id, self.user_key)


def event_id_of(raw: Any) -> str | None:
    """The event's id if it has a usable one (duplicates are recognised by it before any check)."""
    if isinstance(raw, dict):
        value = raw.get("id")
        if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_EVENT_ID_LENGTH:
            return value.strip()
    return None


def parse_timestamp(value: Any) -> tuple[datetime | None, str | None]:
    """An ISO 8601 timestamp that carries its UTC offset (``Z`` or ``+hh:mm``), or a problem."""
    if not isinstance(value, str) or not value.strip():
        return None, "“at” must be an ISO 8601 timestamp such as 2026-10-03T09:00:00Z"
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None, f"“at” {text!r} is not an ISO 8601 timestamp such as 2026-10-03T09:00:00Z"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None, f"“at” {text!r} has no UTC offset; add Z or +hh:mm"
    # The months people may name anywhere: 0001-01-01T00:00+01:00 has no UTC instant, and a year
    # like 9999 can never be billed.
    out_of_range = f"“at” {text[:40]!r} is out of range: from {FIRST_PERIOD}-01 to {LAST_PERIOD}-31"
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:
        return None, out_of_range
    if not FIRST_PERIOD <= BillingPeriod(utc.year, utc.month) <= LAST_PERIOD:
        return None, out_of_range
    return parsed, None


def parse_event(
    index: int,
    raw: Any,
    clients: Mapping[str, int],
    products: Mapping[str, ProductInfo],
) -> tuple[ParsedEvent | None, list[str]]:
    """Check one event on its own; return it parsed, or the list of its problems."""
    if not isinstance(raw, dict):
        return None, ["must be an object"]
    problems: list[str] = []
    event_id = event_id_of(raw)
    if event_id is None:
        problems.append(f"“id” must be a non-empty string of at most {MAX_EVENT_ID_LENGTH} characters")

    client_ref = raw.get("client")
    client_id = clients.get(client_ref) if isinstance(client_ref, str) else None
    if client_id is None:
        problems.append(f"unknown client {client_ref!r}")

    code = raw.get("product")
    product = products.get(code) if isinstance(code, str) else None
    if product is None:
        problems.append(f"unknown product {code!r}")

    action: UsageAction | None = None
    try:
        action = UsageAction(str(raw.get("action")))
    except ValueError:
        problems.append(f"“action” must be start, stop or usage, got {raw.get('action')!r}")

    at, problem = parse_timestamp(raw.get("at"))
    if problem:
        problems.append(problem)

    user = raw.get("user")
    user_key: str | None = None
    if user is not None:
        text = user.strip() if isinstance(user, str) else ""
        if _USER_RE.fullmatch(text) and len(text) <= MAX_USER_LENGTH:
            user_key = text.lower()
        else:
            problems.append("“user” must be an e-mail address or user name without spaces")

    quantity = raw.get("quantity")
    if action is UsageAction.USAGE:
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 < quantity <= MAX_QUANTITY:
            problems.append("“quantity” must be a whole number from 1 for a usage event")
        if product is not None and product.billing is not ProductBilling.METERED:
            problems.append(f"product {code!r} is billed per user: send start and stop events")
    elif action is not None:
        if quantity is not None:
            problems.append(f"“quantity” is only for usage events, not {action.value}")
        if user is None:
            problems.append(f"“user” is required for a {action.value} event")
        if product is not None and product.billing is ProductBilling.METERED:
            problems.append(f"product {code!r} is metered: send usage events with a quantity")

    if problems:
        return None, problems
    assert event_id is not None and client_id is not None and product is not None
    assert action is not None and at is not None
    return (
        ParsedEvent(
            index=index,
            event_id=event_id,
            client_id=client_id,
            product_id=product.id,
            user_key=user_key,
            action=action,
            at=at,
            quantity=quantity if action is UsageAction.USAGE else None,
        ),
        [],
    )


def stops_without_start(
    batch: Iterable[ParsedEvent], earliest_stored_start: Mapping[UsageKey, datetime]
) -> list[ParsedEvent]:
    """Stops that have no start strictly before them for the same client, user and product.

    Both the batch itself and the events already stored count, so a start and its stop may arrive in
    one batch in any order, or the start in an earlier batch.
    """
    events = list(batch)
    earliest = dict(earliest_stored_start)
    for event in events:
        if event.action is UsageAction.START:
            known = earliest.get(event.key)
            if known is None or event.at < known:
                earliest[event.key] = event.at
    bad = []
    for event in events:
        if event.action is UsageAction.STOP:
            start = earliest.get(event.key)
            if start is None or not start < event.at:
                bad.append(event)
    return bad


def intervals_from_events(
    events: Iterable[tuple[UsageAction, datetime]],
) -> list[tuple[datetime, datetime | None]]:
    """Replay one (client, user, product)'s start/stop events in time order into half-open intervals.

    A start while already holding changes nothing; a stop while not holding changes nothing. At the
    same instant a stop comes before a start, so "stop 10:00, start 10:00" keeps the user holding.
    Zero-length intervals are dropped: they never granted anything.
    """
    ordered = sorted(events, key=lambda item: (item[1], 0 if item[0] is UsageAction.STOP else 1))
    intervals: list[tuple[datetime, datetime | None]] = []
    open_since: datetime | None = None
    for action, at in ordered:
        if action is UsageAction.START and open_since is None:
            open_since = at
        elif action is UsageAction.STOP and open_since is not None:
            if at > open_since:
                intervals.append((open_since, at))
            open_since = None
    if open_since is not None:
        intervals.append((open_since, None))
    return intervals
