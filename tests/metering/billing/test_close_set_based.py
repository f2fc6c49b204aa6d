"""The set-based close (counting and rating in SQL) bills randomized months exactly as Python rating does.

Each month is made of ledger rows of every shape the counting rules know: people on several products,
intervals that end before the month, start after it, touch its bounds exactly, cross them or stay
open; seats in service with nobody, some of them held by a person for part of the month; a client
with thousands of people (numbers in words with thousands separators). The same month is closed one
client at a time through the pure Python rating, then again in batches through the set-based path,
and every column of every invoice and line must match. Runs on SQLite and, with ``DATABASE_URL``,
on PostgreSQL.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select

from metering.billing import close_sql, runs
from metering.billing.models import Invoice, InvoiceLine
from metering.billing.queries import parse_period
from metering.billing.runs import close_clients, close_clients_one_by_one, start_close
from metering.ledger.models import IntervalSource, LedgerInterval
from metering.settings import billing_timezone
from portal.accounts.models import Client
from portal.accounts.services import create_client
from portal.audit.services import Actor
from portal.catalog.models import Product
from portal.db import db, utcnow
from portal.transactions import task_transaction
from tests.metering.months import every_column_of
from tests.provisioning.conftest import order

TESTS = Actor.system("tests")
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
MONTH_STOP = datetime(2026, 11, 1, tzinfo=UTC)
PRODUCTS = ("desktop", "desktop-pro", "exchange", "exchange-plus", "voip")


def _moment(rng: random.Random) -> datetime:
    """Anywhere from mid-September to mid-November, often exactly on the month's bounds."""
    if rng.random() < 0.15:
        return rng.choice([MONTH_START, MONTH_STOP])
    return MONTH_START + timedelta(days=-15, seconds=rng.randint(0, 61 * 86_400))


def _interval(rng: random.Random) -> tuple[datetime, datetime | None]:
    start = _moment(rng)
    if rng.random() < 0.4:
        return start, None
    stop = _moment(rng)
    if stop <= start:
        stop = start + timedelta(seconds=rng.randint(1, 20 * 86_400))
    return start, stop


def _random_month(seed: int, clients: int) -> None:
    rng = random.Random(seed)
    product_ids: dict[str, int] = {
        code: product_id for code, product_id in db.session.execute(select(Product.code, Product.id))
    }
    rows: list[dict[str, Any]] = []

    def add(
        client: Client, product: str, user: str | None, seat: int | None = None, closed: bool = False
    ) -> None:
        start, stop = _interval(rng)
        if closed and stop is None:
            # A seat has one open interval at most: the person's stretch on it is over.
            stop = start + timedelta(days=rng.randint(1, 20))
        rows.append(
            {
                "client_id": client.id,
                "product_id": product_ids[product],
                "user_key": user,
                "seat_id": seat,
                "source": IntervalSource.SEAT if seat is not None else IntervalSource.USAGE,
                "start_at": start,
                "stop_at": stop,
                "created_at": utcnow(),
            }
        )

    for number in range(clients):
        client = create_client(TESTS, f"c{seed}x{number:02d}", f"Client {number}")
        db.session.commit()
        people = [f"p{n}@c{number}.example" for n in range(rng.randint(0, 7))]
        for person in people:
            for product in rng.sample(PRODUCTS, rng.randint(1, 3)):
                for _ in range(rng.randint(1, 2)):
                    add(client, product, person)
        if rng.random() < 0.4:
            for seat in order(client, rng.choice(["voip", "desktop"]), rng.randint(1, 3)).seats:
                add(client, seat.product.code, None, seat.id)
                if people and rng.random() < 0.5:
                    add(client, seat.product.code, rng.choice(people), seat.id, closed=True)
        if number == 0 and seed % 2 == 0:
            # Thousands of people: "1,234 users" in the line's words.
            for n in range(1_000 + rng.randint(0, 400)):
                rows.append(
                    {
                        "client_id": client.id,
                        "product_id": product_ids["exchange"],
                        "user_key": f"crowd{n}@c0.example",
                        "seat_id": None,
                        "source": IntervalSource.USAGE,
                        "start_at": MONTH_START - timedelta(days=3),
                        "stop_at": None,
                        "created_at": utcnow(),
                    }
                )
    db.session.execute(insert(LedgerInterval), rows)
    db.session.commit()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_randomized_month_closed_in_sql_matches_python_rating_column_for_column(
    seed, app, catalog, travel, monkeypatch
):
    _random_month(seed, clients=14)
    travel("2026-11-02T12:00:00Z")
    period = parse_period("2026-10")

    with task_transaction():
        plan, by_python = start_close(period, billing_timezone(), utcnow())
        close_clients_one_by_one(TESTS, plan, plan.client_ids, by_python)
    in_python = every_column_of("2026-10")
    db.session.execute(delete(InvoiceLine))
    db.session.execute(delete(Invoice))
    db.session.commit()

    monkeypatch.setattr(close_sql, "SET_BASED_FROM", 1)
    monkeypatch.setattr(runs, "BATCH_SIZE", 5)  # several batches, each a range of client ids
    with task_transaction():
        plan, in_sql = start_close(period, billing_timezone(), utcnow())
        # Every client of these months is the common case: the SQL path bills them all.
        assert close_sql.common_clients(plan, plan.client_ids) == plan.client_ids
        for start in range(0, len(plan.client_ids), runs.BATCH_SIZE):
            close_clients(TESTS, plan, plan.client_ids[start : start + runs.BATCH_SIZE], in_sql)

    assert in_sql.failures == by_python.failures == {}
    assert in_sql.outcomes == by_python.outcomes
    assert by_python.outcomes["created"] >= 10
    assert every_column_of("2026-10") == in_python
    if seed % 2 == 0:
        words = [
            value for invoice in in_python for line in invoice[-1] for value in line if isinstance(value, str)
        ]
        assert any(text.startswith("Hosted Exchange Mailbox — 1,") for text in words)


def test_a_product_without_a_price_for_the_month_keeps_every_client_on_python_rating(app, catalog, travel):
    _random_month(7, clients=3)
    travel("2026-11-02T12:00:00Z")
    with task_transaction():
        plan, _summary = start_close(parse_period("2026-10"), billing_timezone(), utcnow())
    assert close_sql.set_based_possible(plan)
    del plan.catalog.prices["voip"]
    assert not close_sql.set_based_possible(plan)
    assert close_sql.common_clients(plan, plan.client_ids) == []
