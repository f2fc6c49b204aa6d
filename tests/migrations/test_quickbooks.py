"""Migration 0016_quickbooks adds the QuickBooks tables; the clients they point at stay as they were."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, text

from portal.cli import alembic_config
from portal.db import build_engine

BEFORE = "0016_credit_note_tax"


def test_the_tables_come_and_go_and_existing_clients_stay(scratch_databases):
    url = scratch_databases.create("quickbooks")
    config = alembic_config(url)
    command.upgrade(config, BEFORE)
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO clients (id, ref, name, status, created_at) "
                    "VALUES (7, 'acme', 'Acme', 'active', :at)"
                ),
                {"at": datetime(2026, 11, 1, tzinfo=UTC)},
            )

        command.upgrade(config, "0016_quickbooks")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO quickbooks_records "
                    "(kind, local_id, label, status, attempts, client_id, updated_at) "
                    "VALUES ('customer', 7, 'Acme', 'done', 1, 7, :at)"
                ),
                {"at": datetime(2026, 11, 2, tzinfo=UTC)},
            )
            assert connection.execute(text("SELECT name FROM clients WHERE id = 7")).scalar() == "Acme"

        command.downgrade(config, BEFORE)
        tables = set(inspect(engine).get_table_names())
        assert not {"quickbooks_connections", "quickbooks_records"} & tables
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM clients")).scalar() == 1
    finally:
        engine.dispose()
