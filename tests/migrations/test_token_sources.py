"""Migration 0016 knows the addresses the audit log already shows each token acting from, so
upgrading does not report every token's usual address as new; downgrading drops the table."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, text

from portal.cli import alembic_config
from portal.db import build_engine


def test_known_addresses_are_carried_over_and_the_table_comes_and_goes(scratch_databases):
    url = scratch_databases.create("token_sources")
    config = alembic_config(url)
    command.upgrade(config, "0015_placements")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_tokens (id, name, token_hash, token_prefix, role, created_at) "
                    "VALUES (1, 'rmm', :hash, 'smt_abcdef', 'reseller_admin', :at)"
                ),
                {"hash": "a" * 64, "at": datetime(2026, 10, 1, tzinfo=UTC)},
            )
            for event_id, day, address in ((1, 3, "198.51.100.7"), (2, 2, "198.51.100.7"), (3, 4, None)):
                connection.execute(
                    text(
                        "INSERT INTO audit_events (id, at, actor, actor_token_id, action, object_type,"
                        " details, source_address) VALUES (:id, :at, 'API token', 1, 'client.created',"
                        " 'client', '{}', :address)"
                    ),
                    {"id": event_id, "at": datetime(2026, 10, day, tzinfo=UTC), "address": address},
                )

        command.upgrade(config, "0016_token_sources")
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT token_id, address, first_seen_at FROM api_token_sources")
            ).all()
        assert [(row[0], row[1]) for row in rows] == [(1, "198.51.100.7")]
        assert str(rows[0][2]).startswith("2026-10-02")

        command.downgrade(config, "0015_placements")
        assert "api_token_sources" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
