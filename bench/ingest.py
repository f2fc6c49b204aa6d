"""Usage-event ingestion benchmark on PostgreSQL: events per second beside the psycopg floor.

    python bench/ingest.py                             # 20 batches of 1,000 per case
    python bench/ingest.py --batches 5                 # a quick run
    python bench/ingest.py --history bench/history.md  # append the table to the history

It creates a scratch database on the server of ``--database-url`` (default: ``$DATABASE_URL``, else
postgresql://postgres@127.0.0.1:5432/postgres), applies the migrations (the tables are never
analysed by hand: what a fresh install sees), seeds the catalog and ``--clients`` clients, then for
each case, in this order,

* metered, new ids: ``usage`` events of voip-minutes, every id new;
* metered, 50 % duplicates: half the ids already stored (sent by the first case), half new;
* starts: ``start`` events of desktop for people never seen (one ledger interval each);
* stops: ``stop`` events for those people (each interval closed),

times the floor first: psycopg ``INSERT … ON CONFLICT (sender, event_id) DO NOTHING`` of the same
rows, one executemany per batch, rolled back (three times, the median), then the service exactly as
``POST /api/v1/usage-events`` calls it (``ingest_usage_events``, one commit per batch; no HTTP).
The table gives events per second for both and the ratio. The database is dropped unless ``--keep``.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from metering import ingest_usage_events
from portal.audit.services import Actor
from portal.catalog.services import seed_catalog
from portal.cli import alembic_config
from portal.db import db

# Run as a script (python bench/NAME.py) the repository root is not on sys.path; bench.report needs it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.report import bench_app, machine, publish, scratch_database

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BATCH = 1_000
DAY = datetime(2026, 10, 1, tzinfo=UTC)
FLOOR_SQL = (
    "INSERT INTO usage_events (sender, event_id, client_id, product_id, user_key, action, at, quantity,"
    " received_at, received_from) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (sender, event_id) DO NOTHING"
)

Batch = list[dict[str, Any]]


def _at(n: int) -> str:
    return (DAY + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")


def _metered(batches: int, clients: int, first: int) -> list[Batch]:
    return [
        [
            {
                "id": f"m-{n}",
                "client": f"client{n % clients + 1}",
                "product": "voip-minutes",
                "action": "usage",
                "at": _at(n),
                "quantity": n % 90 + 1,
            }
            for n in range(first + b * BATCH, first + (b + 1) * BATCH)
        ]
        for b in range(batches)
    ]


def _half_duplicates(batches: int, clients: int, stored: list[Batch], first: int) -> list[Batch]:
    fresh = _metered(batches, clients, first)
    flat = [event for batch in stored for event in batch]
    return [
        [
            event
            for pair in zip(flat[b * BATCH // 2 : (b + 1) * BATCH // 2], fresh[b][::2], strict=True)
            for event in pair
        ]
        for b in range(batches)
    ]


def _people(batches: int, clients: int, action: str, offset_days: int) -> list[Batch]:
    return [
        [
            {
                "id": f"{action}-{n}",
                "client": f"client{n % clients + 1}",
                "product": "desktop",
                "user": f"person{n}@client{n % clients + 1}.example",
                "action": action,
                "at": _at(n + offset_days * 86_400),
            }
            for n in range(b * BATCH, (b + 1) * BATCH)
        ]
        for b in range(batches)
    ]


@dataclass
class Case:
    name: str
    batches: list[Batch]
    floor_per_s: float = 0.0
    service_per_s: float = 0.0
    accepted: int = 0
    duplicates: int = 0

    @property
    def events(self) -> int:
        return sum(len(batch) for batch in self.batches)

    def row(self) -> str:
        ratio = self.floor_per_s / self.service_per_s
        return (
            f"| {self.name} | {self.events:,} | {self.accepted:,} / {self.duplicates:,} | "
            f"{self.service_per_s:,.0f} | {self.floor_per_s:,.0f} | {ratio:.1f}x |"
        )


HEADER = [
    "| case (batches of 1,000) | events | accepted / duplicates | service ev/s | floor ev/s (psycopg "
    "INSERT … ON CONFLICT DO NOTHING) | floor ÷ service |",
    "|---|---:|---:|---:|---:|---:|",
]


def _floor_rows(batch: Batch, clients: dict[str, int], products: dict[str, int]) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    return [
        (
            "reseller",
            event["id"],
            clients[event["client"]],
            products[event["product"]],
            event.get("user"),
            event["action"],
            datetime.fromisoformat(event["at"]),
            event.get("quantity"),
            now,
            "bench",
        )
        for event in batch
    ]


def _median_seconds(run: Callable[[], object], times: int = 3) -> float:
    timings = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _time_floor(app: Flask, case: Case, clients: dict[str, int], products: dict[str, int]) -> None:
    rows = [_floor_rows(batch, clients, products) for batch in case.batches]

    def insert() -> None:
        raw = db.engine.raw_connection()
        connection = raw.driver_connection
        assert connection is not None
        try:
            with connection.cursor() as cursor:
                for batch in rows:
                    cursor.executemany(FLOOR_SQL, batch)
        finally:
            connection.rollback()
            raw.close()

    with app.app_context():
        case.floor_per_s = case.events / _median_seconds(insert)


def _time_service(app: Flask, case: Case) -> None:
    actor = Actor.system("bench")
    with app.app_context():
        started = time.perf_counter()
        for batch in case.batches:
            result = ingest_usage_events(actor, batch)
            db.session.commit()
            case.accepted += result.accepted
            case.duplicates += result.duplicates
        case.service_per_s = case.events / (time.perf_counter() - started)


def _run(url: str, client_count: int, batches: int) -> list[Case]:
    command.upgrade(alembic_config(url), "head")
    app = bench_app(url)
    with app.app_context():
        seed_catalog(Actor.system("bench"))
        db.session.commit()
        raw = db.engine.raw_connection()
        connection = raw.driver_connection
        assert connection is not None
        try:
            now = datetime.now(UTC).isoformat()
            with (
                connection.cursor() as cursor,
                cursor.copy("COPY clients (ref, name, status, created_at) FROM STDIN") as copy,
            ):
                copy.write(
                    io.StringIO(
                        "".join(f"client{i}\tClient {i}\tactive\t{now}\n" for i in range(1, client_count + 1))
                    ).getvalue()
                )
            connection.commit()
        finally:
            raw.close()
        clients: dict[str, int] = dict(db.session.execute(text("SELECT ref, id FROM clients")).tuples().all())
        products: dict[str, int] = dict(
            db.session.execute(text("SELECT code, id FROM products")).tuples().all()
        )
        db.session.rollback()

    metered = Case("metered, new ids", _metered(batches, client_count, 0))
    cases = [
        metered,
        Case(
            "metered, 50 % duplicates",
            _half_duplicates(batches, client_count, metered.batches, batches * BATCH),
        ),
        Case("starts, new people", _people(batches, client_count, "start", 0)),
        Case("stops of those people", _people(batches, client_count, "stop", 1)),
    ]
    for case in cases:
        _time_floor(app, case, clients, products)
        _time_service(app, case)
        print(HEADER[0] + "\n" + case.row(), flush=True)
    with app.app_context():
        db.engine.dispose()
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=20, help="batches of 1,000 per case")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--history", help="append the table to this file (bench/history.md)")
    parser.add_argument("--label", default="", help="what was measured (a branch, a commit)")
    args = parser.parse_args()

    server = make_url(args.database_url).set(drivername="postgresql+psycopg")
    if server.get_backend_name() != "postgresql":
        parser.error("the bench runs on PostgreSQL")
    machine_line = machine()
    with scratch_database(server, args.keep) as url:
        cases = _run(url, args.clients, args.batches)
    table = "\n".join(HEADER + [case.row() for case in cases])
    publish(
        "Usage-event ingestion",
        args.label,
        f"{machine_line} · {args.clients:,} clients\n\n{table}",
        args.history,
    )


if __name__ == "__main__":
    main()
