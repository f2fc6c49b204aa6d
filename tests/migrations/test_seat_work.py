"""Migration 0009 moves the workers' bookkeeping from ``seats`` to ``seat_work`` and back, data kept."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Connection, inspect, text

from portal.cli import alembic_config
from portal.db import build_engine

AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 11, 1, 9, 45, tzinfo=UTC)


def _populate(connection: Connection) -> None:
    """Two seats as revision 0008 stored them, one with work under way, and what refers to them."""
    connection.execute(
        text(
            "INSERT INTO clients (id, ref, name, status, created_at) "
            "VALUES (1, 'acme', 'Acme', 'active', :at)"
        ),
        {"at": AT},
    )
    connection.execute(
        text(
            "INSERT INTO products (id, code, name, description, kind, price_minor, currency, active, "
            "billing, updated_at) VALUES (1, 'voip', 'VoIP', '', 'voip', 500, 'EUR', :yes, 'per_user', :at)"
        ),
        {"at": AT, "yes": True},
    )
    connection.execute(
        text(
            "INSERT INTO orders (id, client_id, product_id, quantity, unit_price_minor, currency, "
            "created_at) VALUES (1, 1, 1, 2, 500, 'EUR', :at)"
        ),
        {"at": AT},
    )
    seats = text(
        "INSERT INTO seats (id, client_id, order_id, product_id, state, desired_state, revision, created_at, "
        "state_changed_at, sweep_after, lease_owner, lease_expires_at, attempt_count, next_attempt_at, "
        "secret_ciphertext) VALUES (:id, 1, 1, 1, :state, 'active', 1, :at, :at, :sweep, :owner, :lease, "
        ":attempts, :next, :secret)"
    )
    connection.execute(
        seats,
        [
            {
                "id": 1,
                "state": "provisioning",
                "at": AT,
                "sweep": LATER,
                "owner": "task-1:ab",
                "lease": LATER,
                "attempts": 2,
                "next": LATER,
                "secret": "sealed",
            },
            {
                "id": 2,
                "state": "active",
                "at": AT,
                "sweep": None,
                "owner": None,
                "lease": None,
                "attempts": 0,
                "next": None,
                "secret": None,
            },
        ],
    )
    connection.execute(
        text(
            "INSERT INTO provisioning_attempts (id, seat_id, client_id, action, revision, idempotency_key, "
            "adapter, started_at, outcome) VALUES (1, 1, 1, 'create', 1, 'k', 'kamailio', :at, 'retrying')"
        ),
        {"at": AT},
    )


def _rows(connection: Connection, query: str) -> list[tuple]:
    return [tuple(row) for row in connection.execute(text(query))]


def test_bookkeeping_moves_to_seat_work_and_back(scratch_databases):
    url = scratch_databases.create("seat_work")
    config = alembic_config(url)
    command.upgrade(config, "0008")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            _populate(connection)

        command.upgrade(config, "0009")
        with engine.connect() as connection:
            work = _rows(
                connection,
                "SELECT seat_id, lease_owner, attempt_count, secret_ciphertext, sweep_after IS NOT NULL "
                "FROM seat_work ORDER BY seat_id",
            )
            kept = _rows(connection, "SELECT id, state FROM seats ORDER BY id")
            attempts = _rows(connection, "SELECT id, seat_id FROM provisioning_attempts")
        assert work == [(1, "task-1:ab", 2, "sealed", True), (2, None, 0, None, False)]
        assert not {"sweep_after", "lease_owner", "secret_ciphertext"} & {
            column["name"] for column in inspect(engine).get_columns("seats")
        }
        # Nothing that refers to a seat was lost on the way.
        assert kept == [(1, "provisioning"), (2, "active")]
        assert attempts == [(1, 1)]

        command.downgrade(config, "0008")
        with engine.connect() as connection:
            back = _rows(
                connection,
                "SELECT id, lease_owner, attempt_count, secret_ciphertext, sweep_after IS NOT NULL "
                "FROM seats ORDER BY id",
            )
            attempts = _rows(connection, "SELECT id, seat_id FROM provisioning_attempts")
        assert back == [(1, "task-1:ab", 2, "sealed", True), (2, None, 0, None, False)]
        assert attempts == [(1, 1)]
    finally:
        engine.dispose()
