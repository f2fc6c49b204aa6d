"""Migration 0011 adds the source address and User-Agent to the audit log; older rows keep NULL."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, text

from portal.cli import alembic_config
from portal.db import build_engine


def test_existing_events_keep_null_and_the_columns_come_and_go(scratch_databases):
    url = scratch_databases.create("audit_source")
    config = alembic_config(url)
    command.upgrade(config, "0010")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO audit_events (id, at, actor, action, object_type, details) "
                    "VALUES (1, :at, 'cli', 'client.created', 'client', '{}')"
                ),
                {"at": datetime(2026, 11, 1, tzinfo=UTC)},
            )

        command.upgrade(config, "0011")
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT action, source_address, user_agent FROM audit_events")
            ).one()
        assert tuple(row) == ("client.created", None, None)

        command.downgrade(config, "0010")
        columns = {column["name"] for column in inspect(engine).get_columns("audit_events")}
        assert not {"source_address", "user_agent"} & columns
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM audit_events")).scalar() == 1
    finally:
        engine.dispose()
