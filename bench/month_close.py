"""Month-close benchmark on PostgreSQL: N clients with a year of seat history, close the last month.

    python bench/month_close.py                           # 1,000 then 10,000 clients
    python bench/month_close.py --clients 500             # a quick run
    python bench/month_close.py --history bench/history.md  # append the table to the history

For each size it creates a scratch database on the server of ``--database-url`` (default:
``$DATABASE_URL``, else postgresql://postgres@127.0.0.1:5432/postgres), applies the migrations,
seeds the catalog, loads the history with COPY, then times

* the set-based floor: one transaction of plain SQL (``INSERT … SELECT``) that counts the month and
  writes the same invoices and lines the close writes, then rolls back (three times, the median);
* a plain PostgreSQL ``GROUP BY`` counting distinct users per (client, product) (three times, median);
* the month close exactly as ``flask --app wsgi billing close`` runs it (batches of clients, drafts
  written, audit records included), in a fresh process whose peak resident memory (VmHWM) is reported
  beside the same process's resident memory just before the close,

and prints one table: each figure, the floor, the ratio, and seconds per 1,000 clients (flat when
the close is linear in N). The scratch database is dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from alembic import command
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from metering.billing.catalog import catalog_snapshot
from metering.billing.runs import run_close
from metering.periods import BillingPeriod
from portal.audit.services import Actor
from portal.catalog.services import seed_catalog
from portal.cli import alembic_config
from portal.db import db
from portal.transactions import cli_transaction

# Run as a script (python bench/NAME.py) the repository root is not on sys.path; bench.report needs it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.report import bench_app, machine, publish, scratch_database

YEAR_START = BillingPeriod(2025, 11)
CLOSED = BillingPeriod(2026, 10)
PRODUCT_ODDS = {"desktop": 0.6, "desktop-pro": 0.1, "exchange": 0.85, "voip": 0.35}
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NULL = "\\N"  # COPY's NULL


def _months() -> list[BillingPeriod]:
    months, month = [], YEAR_START
    while month <= CLOSED:
        months.append(month)
        month = month.next()
    return months


def _history(clients: int, rng: random.Random, product_ids: dict[str, int]) -> tuple[io.StringIO, int, int]:
    """Tab-separated licence intervals; returns (rows, interval count, seat-months)."""
    months = _months()
    year_start, year_stop = months[0].bounds(UTC)[0], CLOSED.bounds(UTC)[1]
    span = (year_stop - year_start).total_seconds()
    bounds = [month.bounds(UTC) for month in months]
    rows = io.StringIO()
    intervals = seat_months = 0
    now = datetime.now(UTC).isoformat()
    for client_id in range(1, clients + 1):
        for user in range(rng.randint(3, 9)):
            key = f"user{user}@client{client_id}.example"
            for product, odds in PRODUCT_ODDS.items():
                if rng.random() >= odds:
                    continue
                start = (
                    year_start + timedelta(seconds=rng.random() * span * 0.5)
                    if rng.random() < 0.5
                    else year_start
                )
                stop = None
                if rng.random() < 0.3:
                    stop = start + timedelta(seconds=rng.random() * (year_stop - start).total_seconds())
                # Now and then the seat is handed to someone else mid-month and back.
                pieces = [(key, start, stop)]
                if stop is None and rng.random() < 0.05:
                    swap = start + timedelta(days=rng.randint(1, 60))
                    back = swap + timedelta(days=rng.randint(1, 20))
                    if back < year_stop:
                        pieces = [
                            (key, start, swap),
                            (f"temp{user}@client{client_id}.example", swap, back),
                            (key, back, None),
                        ]
                for user_key, begin, end in pieces:
                    stop_text = end.isoformat() if end else NULL
                    rows.write(
                        f"{client_id}\t{product_ids[product]}\t{user_key}\tseat\t{begin.isoformat()}\t"
                        f"{stop_text}\t{now}\n"
                    )
                    intervals += 1
                    seat_months += sum(
                        1 for low, high in bounds if begin < high and (end is None or end > low)
                    )
    rows.seek(0)
    return rows, intervals, seat_months


def _copy(raw_connection: object, statement: str, data: io.StringIO) -> None:
    with raw_connection.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[attr-defined]
        while chunk := data.read(1 << 20):
            copy.write(chunk)


def _median_seconds(run: Callable[[], object], times: int = 3) -> float:
    timings = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


# The floor: what the close writes for this bench's month (per-user products, no tax, no commitment,
# no usage), counted and written by PostgreSQL alone in one transaction.
FLOOR_SQL = (
    """CREATE TEMP TABLE floor_counted ON COMMIT DROP AS
    SELECT li.client_id, li.product_id, count(DISTINCT li.user_key) AS quantity
    FROM licence_intervals li
    WHERE li.start_at < :stop AND (li.stop_at IS NULL OR (li.stop_at > :start AND li.stop_at > li.start_at))
    GROUP BY li.client_id, li.product_id""",
    """INSERT INTO invoices (client_id, period, status, currency, total_minor, subtotal_minor, tax_minor,
        starts_at, ends_at, built_at, created_at, payment_attempts, number_prefix)
    SELECT c.client_id, :period, 'draft', min(p.currency), sum(c.quantity * p.amount_minor),
        sum(c.quantity * p.amount_minor), 0, :start, :stop, now(), now(), 0, ''
    FROM floor_counted c JOIN floor_prices p ON p.product_id = c.product_id
    GROUP BY c.client_id""",
    """INSERT INTO invoice_lines (invoice_id, position, kind, product_id, period, quantity,
        unit_amount_minor, amount_minor, currency, description, tax_minor, tax_inclusive)
    SELECT i.id, row_number() OVER (PARTITION BY c.client_id ORDER BY p.code) - 1, 'regular', c.product_id,
        :period, c.quantity, p.amount_minor, c.quantity * p.amount_minor, p.currency,
        p.name || ' — ' || c.quantity || CASE WHEN c.quantity = 1 THEN ' user, ' ELSE ' users, ' END
            || :label,
        0, false
    FROM floor_counted c
    JOIN floor_prices p ON p.product_id = c.product_id
    JOIN invoices i ON i.client_id = c.client_id AND i.period = :period""",
)


def _floor(app: Flask, start: datetime, stop: datetime) -> tuple[float, int]:
    """Median seconds of the set-based close, and how many lines it wrote (rolled back each time)."""
    lines = 0
    params = {"start": start, "stop": stop, "period": str(CLOSED), "label": CLOSED.label}

    def write() -> None:
        nonlocal lines
        with app.app_context():
            try:
                for statement in FLOOR_SQL:
                    db.session.execute(text(statement), params)
                lines = db.session.execute(
                    text("SELECT count(*) FROM invoice_lines WHERE period = :period"), params
                ).scalar_one()
            finally:
                db.session.rollback()

    return _median_seconds(write), lines


def _group_by(app: Flask, start: datetime, stop: datetime) -> float:
    def count() -> None:
        with app.app_context():
            db.session.execute(
                text(
                    "SELECT client_id, product_id, count(DISTINCT user_key) FROM licence_intervals"
                    " WHERE start_at < :stop AND (stop_at IS NULL OR stop_at > :start)"
                    " GROUP BY client_id, product_id"
                ),
                {"start": start, "stop": stop},
            ).all()
            db.session.rollback()

    return _median_seconds(count)


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _rss_mb() -> float:
    """Resident memory now, to set the close's peak against."""
    return _status_mb("VmRSS")


def _peak_rss_mb() -> float:
    # The high-water mark of this process's own memory: unlike getrusage's ru_maxrss, which keeps
    # the parent's figure across fork and exec, it starts afresh in the new program.
    return _status_mb("VmHWM")


def close_only(url: str) -> None:
    """The close alone, in this process (started fresh by the bench): one JSON line of its figures."""
    app = bench_app(url)
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        before = _rss_mb()
        started = time.perf_counter()
        summary = run_close(
            Actor.system("bench"), CLOSED, ZoneInfo("UTC"), datetime.now(UTC), transaction=cli_transaction
        )
        seconds = time.perf_counter() - started
        lines = db.session.execute(text("SELECT count(*) FROM invoice_lines")).scalar_one()
        db.session.rollback()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "clients": summary.clients,
                "lines": lines,
                "failures": len(summary.failures),
                "rss_before_mb": before,
                "rss_peak_mb": _peak_rss_mb(),
            }
        )
    )


@dataclass
class Figures:
    clients: int
    intervals: int
    seat_months: int
    close: dict[str, float]
    floor_seconds: float
    floor_lines: int
    group_by_seconds: float

    def rows(self) -> list[str]:
        close = self.close["seconds"]
        per_thousand = 1000 / self.clients
        peak, before = self.close["rss_peak_mb"], self.close["rss_before_mb"]
        return [
            f"| {self.clients:,} | {self.seat_months:,} | {int(self.close['lines']):,} | {close:.2f} | "
            f"{self.floor_seconds:.3f} | {close / self.floor_seconds:.1f}x | {self.group_by_seconds:.3f} | "
            f"{close / self.group_by_seconds:.0f}x | {close * per_thousand:.3f} | "
            f"{self.floor_seconds * per_thousand:.3f} | {peak:.0f} ({peak - before:+.0f}) |"
        ]


HEADER = [
    "| clients | seat-months | lines | close s | floor s (INSERT … SELECT) | close ÷ floor | GROUP BY s | "
    "close ÷ GROUP BY | close s per 1,000 | floor s per 1,000 | peak RSS MB (close's own) |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--history", help="append the table to this file (bench/history.md)")
    parser.add_argument("--label", default="", help="what was measured (a branch, a commit)")
    parser.add_argument("--close-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.close_only:
        close_only(args.close_only)
        return

    server = make_url(args.database_url).set(drivername="postgresql+psycopg")
    if server.get_backend_name() != "postgresql":
        parser.error("the bench runs on PostgreSQL")
    machine_line = machine()
    figures = []
    for clients in args.clients:
        with scratch_database(server, args.keep) as url:
            figures.append(_run(url, clients, random.Random(args.seed)))
    table = "\n".join(HEADER + [row for figure in figures for row in figure.rows()])
    publish("Month close", args.label, f"{machine_line}\n\n{table}", args.history)


def _run(url: str, clients: int, rng: random.Random) -> Figures:
    command.upgrade(alembic_config(url), "head")
    app = bench_app(url)
    with app.app_context():
        seed_catalog(Actor.system("bench"))
        db.session.commit()
        product_ids: dict[str, int] = {
            code: product_id
            for code, product_id in db.session.execute(text("SELECT code, id FROM products")).all()
        }
        catalog = catalog_snapshot(CLOSED)

        started = time.perf_counter()
        raw = db.engine.raw_connection()
        connection = raw.driver_connection
        assert connection is not None
        try:
            now = datetime.now(UTC).isoformat()
            client_rows = io.StringIO(
                "".join(f"client{i}\tClient {i}\tactive\t{now}\n" for i in range(1, clients + 1))
            )
            _copy(connection, "COPY clients (ref, name, status, created_at) FROM STDIN", client_rows)
            rows, intervals, seat_months = _history(clients, rng, product_ids)
            _copy(
                connection,
                "COPY licence_intervals"
                " (client_id, product_id, user_key, source, start_at, stop_at, created_at) FROM STDIN",
                rows,
            )
            # The floor's price list: the prices in force for the month, as the close reads them.
            price_rows = io.StringIO(
                "".join(
                    f"{product_ids[code]}\t{code}\t{catalog.names[code]}\t{price.amount_minor}\t"
                    f"{price.currency}\n"
                    for code, price in catalog.prices.items()
                )
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    "CREATE TABLE floor_prices (product_id int PRIMARY KEY, code text, name text,"
                    " amount_minor bigint, currency text)"
                )
            _copy(connection, "COPY floor_prices FROM STDIN", price_rows)
            connection.commit()
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            connection.commit()
        finally:
            raw.close()
        print(
            f"loaded {clients:,} clients, {intervals:,} intervals, {seat_months:,} seat-months "
            f"in {time.perf_counter() - started:.1f} s"
        )
        start, stop = CLOSED.bounds(UTC)
    floor_seconds, floor_lines = _floor(app, start, stop)
    group_by_seconds = _group_by(app, start, stop)
    with app.app_context():
        db.engine.dispose()

    # The close in a fresh process, so its peak memory is its own and not the loader's.
    done = subprocess.run(  # nosec B603  # this interpreter and this file, no shell
        [sys.executable, __file__, "--close-only", url], capture_output=True, text=True, check=True
    )
    close = json.loads(done.stdout.strip().splitlines()[-1])
    assert close["failures"] == 0, done.stdout
    assert close["lines"] == floor_lines, f"the close wrote {close['lines']} lines, the floor {floor_lines}"
    figures = Figures(clients, intervals, seat_months, close, floor_seconds, floor_lines, group_by_seconds)
    print("\n".join(HEADER + figures.rows()))
    return figures


if __name__ == "__main__":
    main()
