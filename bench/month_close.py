"""Month-close benchmark on PostgreSQL: N clients with a year of seat history, close the last month.

    python bench/month_close.py                    # 10,000 clients, about 1,000,000 seat-months
    python bench/month_close.py --clients 500      # a quick run

It creates a scratch database on the server of ``--database-url`` (default: ``$DATABASE_URL``, else
postgresql://postgres@127.0.0.1:5432/postgres), applies the migrations, seeds the catalog, loads the
history with COPY, then times

* the month close exactly as ``flask --app wsgi billing close`` runs it (one transaction per batch
  of clients, drafts written, audit records included), and
* a plain PostgreSQL ``GROUP BY`` counting distinct users per (client, product) over the same month,

and prints both and their ratio. The scratch database is dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import secrets
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from metering.billing.runs import run_close
from metering.periods import BillingPeriod
from portal import create_app
from portal.audit.services import Actor
from portal.catalog.services import seed_catalog
from portal.cli import alembic_config
from portal.db import db
from portal.transactions import cli_transaction

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    server = make_url(args.database_url).set(drivername="postgresql+psycopg")
    if server.get_backend_name() != "postgresql":
        parser.error("the bench runs on PostgreSQL")
    name = f"seatmeter_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        _run(url, args.clients, random.Random(args.seed))
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _run(url: str, clients: int, rng: random.Random) -> None:
    command.upgrade(alembic_config(url), "head")
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-" + "x" * 20,
            "CELERY_BROKER_URL": "memory://",
            "MAIL_SERVER": "",
        }
    )
    with app.app_context():
        seed_catalog(Actor.system("bench"))
        db.session.commit()
        product_ids: dict[str, int] = dict(
            db.session.execute(text("SELECT code, id FROM products")).tuples().all()
        )

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
        started = time.perf_counter()
        summary = run_close(
            Actor.system("bench"), CLOSED, ZoneInfo("UTC"), datetime.now(UTC), transaction=cli_transaction
        )
        close_seconds = time.perf_counter() - started
        assert summary.complete, summary.failures

        started = time.perf_counter()
        groups = db.session.execute(
            text(
                "SELECT client_id, product_id, count(DISTINCT user_key) FROM licence_intervals"
                " WHERE start_at < :stop AND (stop_at IS NULL OR stop_at > :start)"
                " GROUP BY client_id, product_id"
            ),
            {"start": start, "stop": stop},
        ).all()
        group_seconds = time.perf_counter() - started
        db.session.rollback()
        lines = db.session.execute(text("SELECT count(*) FROM invoice_lines")).scalar_one()

    print(
        f"month close {CLOSED}: {summary.clients:,} clients, {lines:,} invoice lines in {close_seconds:.2f} s"
    )
    print(f"plain GROUP BY count over the same month: {len(groups):,} groups in {group_seconds:.3f} s")
    print(f"ratio close / GROUP BY: {close_seconds / group_seconds:.0f}x")


if __name__ == "__main__":
    main()
