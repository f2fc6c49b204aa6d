"""Migration 0016 keeps every recorded month close, and a close run recorded by it survives a downgrade."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text

from portal.cli import alembic_config
from portal.db import build_engine

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_close_runs_are_kept_and_closes_from_before_read_as_one_worker(scratch_databases):
    url = scratch_databases.create("close_batches")
    config = alembic_config(url)
    command.upgrade(config, "0015_placements")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO close_runs (id, period, status, clients_total, clients_done, outcomes, "
                    "failures, started_by, started_at, updated_at) VALUES (1, '2026-10', 'finished', 3, 3, "
                    """'{"created": 3}', '{}', 'sam@northwind-it.example', :at, :at)"""
                ),
                {"at": AT},
            )

        command.upgrade(config, "0016_close_batches")
        with engine.begin() as connection:
            kept = connection.execute(
                text("SELECT period, status, clients_done, batches_total, batches_finished FROM close_runs")
            ).all()
            connection.execute(
                text(
                    "INSERT INTO close_runs (id, period, status, clients_total, clients_done, outcomes, "
                    "failures, started_by, started_at, updated_at, batches_total, batches_finished) VALUES "
                    "(2, '2026-11', 'running', 9, 3, '{}', '{}', 'sam', :at, :at, 3, '[0]')"
                ),
                {"at": AT},
            )
        assert [tuple(row) for row in kept] == [("2026-10", "finished", 3, None, None)]

        command.downgrade(config, "0015_placements")
        with engine.connect() as connection:
            back = connection.execute(
                text("SELECT id, period, clients_done FROM close_runs ORDER BY id")
            ).all()
        assert [tuple(row) for row in back] == [(1, "2026-10", 3), (2, "2026-11", 3)]
    finally:
        engine.dispose()
