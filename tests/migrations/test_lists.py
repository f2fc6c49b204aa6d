"""Migration 0016_lists gives existing clients and end users their folded search text (so a search
finds people who were there before the upgrade) and every row an updated_at; downgrading drops both."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, text

from portal.cli import alembic_config
from portal.db import build_engine


def test_existing_names_become_searchable_and_the_columns_come_and_go(scratch_databases):
    url = scratch_databases.create("lists")
    config = alembic_config(url)
    command.upgrade(config, "0016_close_batches")
    engine = build_engine(url)
    created = datetime(2026, 10, 1, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO clients (id, ref, name, status, created_at)"
                    " VALUES (1, 'kanzlei', 'Ünï Straße', 'active', :at)"
                ),
                {"at": created},
            )
            connection.execute(
                text(
                    "INSERT INTO end_users (id, client_id, name, email, created_at)"
                    " VALUES (1, 1, 'ÄNNE Öz', 'Anne@Example.com', :at)"
                ),
                {"at": created},
            )

        command.upgrade(config, "0016_lists")
        with engine.connect() as connection:
            client = connection.execute(text("SELECT search_text, updated_at FROM clients")).one()
            person = connection.execute(text("SELECT search_text FROM end_users")).one()
        assert client[0] == "ünï strasse kanzlei"
        assert str(client[1]).startswith("2026-10-01")
        assert person[0] == "änne öz anne@example.com"

        command.downgrade(config, "0016_close_batches")
        for table in ("clients", "end_users", "seats"):
            columns = {column["name"] for column in inspect(engine).get_columns(table)}
            assert not {"search_text", "updated_at"} & columns
    finally:
        engine.dispose()
