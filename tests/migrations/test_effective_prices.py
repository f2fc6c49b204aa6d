"""Migration 0013: today's prices and SPLA costs become effective from the start of history."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Connection, text

from portal.cli import alembic_config
from portal.db import build_engine

AT = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


def _populate(connection: Connection) -> None:
    """As revision 0012 stored them: two products (one with an edited price) and one SKU."""
    connection.execute(
        text(
            "INSERT INTO products (id, code, name, description, kind, price_minor, currency, active, "
            "billing, unit, updated_at) VALUES (:id, :code, :code, '', 'desktop', :price, 'USD', :yes, "
            "'per_user', 'user', :at)"
        ),
        [
            {"id": 1, "code": "desktop", "price": 4150, "yes": True, "at": AT},
            {"id": 2, "code": "voip", "price": 2200, "yes": True, "at": AT},
        ],
    )
    connection.execute(
        text(
            "INSERT INTO licence_skus (id, code, name, unit, spla_cost_minor, currency, updated_at) "
            "VALUES (1, 'WINRDS-SAL', 'RDS SAL', 'per_user', 520, 'USD', :at)"
        ),
        {"at": AT},
    )


def test_prices_and_costs_are_carried_over_from_the_start_of_history(scratch_databases):
    url = scratch_databases.create("effective_prices")
    config = alembic_config(url)
    command.upgrade(config, "0012")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            _populate(connection)

        command.upgrade(config, "0013")
        with engine.connect() as connection:
            prices = connection.execute(
                text(
                    "SELECT product_id, effective_from, amount_minor, currency FROM product_prices "
                    "ORDER BY product_id"
                )
            ).all()
            costs = connection.execute(
                text("SELECT sku_id, effective_from, amount_minor, currency FROM licence_sku_costs")
            ).all()
        assert [tuple(row) for row in prices] == [(1, "2000-01", 4150, "USD"), (2, "2000-01", 2200, "USD")]
        assert [tuple(row) for row in costs] == [(1, "2000-01", 520, "USD")]

        command.downgrade(config, "0012")
        with engine.connect() as connection:
            assert connection.execute(
                text("SELECT price_minor FROM products ORDER BY id")
            ).scalars().all() == [
                4150,
                2200,
            ]
    finally:
        engine.dispose()
