"""Usage batches cost a fixed number of statements however large, and a duplicate that slips past
the look-up is still reported as a duplicate."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from metering.ledger.models import LedgerInterval
from metering.usage import services
from metering.usage.models import UsageEvent
from portal.db import db
from tests.metering.months import Month, event


def _people(count: int, clients: list[str], action: str, at: str) -> list[dict[str, Any]]:
    return [
        event(f"{action}-{n}", clients[n % len(clients)], f"person{n}@example.com", "desktop", action, at)
        for n in range(count)
    ]


def _metered(count: int, clients: list[str], first: int = 0) -> list[dict[str, Any]]:
    return [
        event(f"m-{n}", clients[n % len(clients)], None, "voip-minutes", "usage", "2026-10-05T10:00:00Z", 3)
        for n in range(first, first + count)
    ]


def _statements(count_queries: Any, month: Month, events: list[dict[str, Any]]) -> int:
    with count_queries() as statements:
        month.events(*events)
    return len(statements)


def test_a_batch_of_thousands_runs_as_many_statements_as_a_batch_of_ten(month, make_client, count_queries):
    clients = [make_client(f"client-{n}").ref for n in range(40)]
    small = [clients[0], clients[1]]

    starts = (
        _statements(count_queries, month, _people(10, small, "start", "2026-10-02T09:00:00Z")),
        _statements(count_queries, month, _people(2_000, clients, "start", "2026-10-03T09:00:00Z")[10:]),
    )
    stops = (
        _statements(count_queries, month, _people(10, small, "stop", "2026-10-20T17:00:00Z")),
        _statements(count_queries, month, _people(2_000, clients, "stop", "2026-10-21T17:00:00Z")[10:]),
    )
    metered = (
        _statements(count_queries, month, _metered(10, small)),
        _statements(count_queries, month, _metered(3_000, clients, first=10)),
    )

    assert starts[0] == starts[1]
    assert stops[0] == stops[1]
    assert metered[0] == metered[1]
    assert db_count(LedgerInterval) == 2_000
    assert db_count(UsageEvent) == 2_000 + 2_000 + 3_010


def db_count(model: type) -> int | None:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_id_stored_after_the_look_up_is_reported_as_a_duplicate(
    month, make_client, monkeypatch: pytest.MonkeyPatch
):
    make_client("acme")
    month.events(event("e-1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    # As if another batch stored e-1 between this batch's look-up of known ids and its insert.
    monkeypatch.setattr(services, "_stored_event_ids", lambda sender, ids: set())

    result = month.events(
        event("e-1", "acme", "alice@acme.example", "desktop", "start", "2026-10-01T09:00:00Z"),
        event("e-2", "acme", "alice@acme.example", "desktop", "stop", "2026-10-09T09:00:00Z"),
    )

    assert (result.accepted, result.duplicates) == (1, 1)
    intervals = [(row.start_at.day, row.stop_at and row.stop_at.day) for row in month_intervals()]
    assert intervals == [(3, 9)]


def month_intervals() -> list[LedgerInterval]:
    return list(db.session.scalars(select(LedgerInterval).order_by(LedgerInterval.start_at)))
