"""Migration 0010: ledger intervals may have nobody (a seat in service); today's rows are kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from portal.cli import alembic_config
from portal.db import build_engine

AT = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


def _populate(connection: Connection) -> None:
    """As revision 0009 stored them: an assigned active seat with its interval, an unassigned active
    seat (never billed so far), and an unassigned seat still being made."""
    connection.execute(
        text(
            "INSERT INTO clients (id, ref, name, status, created_at) "
            "VALUES (1, 'acme', 'Acme', 'active', :at)"
        ),
        {"at": AT},
    )
    connection.execute(
        text(
            "INSERT INTO end_users (id, client_id, name, email, created_at) "
            "VALUES (1, 1, 'Alice', 'alice@acme.example', :at)"
        ),
        {"at": AT},
    )
    connection.execute(
        text(
            "INSERT INTO products (id, code, name, description, kind, price_minor, currency, active, "
            "billing, updated_at) VALUES (1, 'voip', 'VoIP', '', 'voip', 2200, 'USD', :yes, 'per_user', :at)"
        ),
        {"at": AT, "yes": True},
    )
    connection.execute(
        text(
            "INSERT INTO orders (id, client_id, product_id, quantity, unit_price_minor, currency, "
            "created_at) VALUES (1, 1, 1, 3, 2200, 'USD', :at)"
        ),
        {"at": AT},
    )
    connection.execute(
        text(
            "INSERT INTO seats (id, client_id, order_id, product_id, end_user_id, state, desired_state, "
            "revision, created_at, state_changed_at) "
            "VALUES (:id, 1, 1, 1, :user, :state, 'active', 1, :at, :at)"
        ),
        [
            {"id": 1, "user": 1, "state": "active", "at": AT},
            {"id": 2, "user": None, "state": "active", "at": AT},
            {"id": 3, "user": None, "state": "provisioning", "at": AT},
        ],
    )
    connection.execute(
        text(
            # No explicit id: on PostgreSQL that would leave the sequence behind for the migration's rows.
            "INSERT INTO licence_intervals (client_id, product_id, user_key, end_user_id, seat_id, "
            "source, start_at, created_at) VALUES (1, 1, 'alice@acme.example', 1, 1, 'seat', :at, :at)"
        ),
        {"at": AT},
    )


def _rows(connection: Connection) -> list[tuple]:
    return [
        tuple(row)
        for row in connection.execute(
            text(
                "SELECT id, seat_id, user_key, end_user_id, source, stop_at "
                "FROM licence_intervals ORDER BY id"
            )
        )
    ]


def test_an_active_unassigned_seat_is_in_service_from_the_upgrade_and_the_rest_is_kept(scratch_databases):
    url = scratch_databases.create("seats_in_service")
    config = alembic_config(url)
    command.upgrade(config, "0009")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            _populate(connection)

        command.upgrade(config, "0010")
        with engine.connect() as connection:
            rows = _rows(connection)
        assert rows == [
            (1, 1, "alice@acme.example", 1, "seat", None),  # kept as it was
            (2, 2, None, None, "seat", None),  # the working extension nobody was billed for
        ]
        with pytest.raises(IntegrityError), engine.begin() as connection:
            # Usage and true-ups always name a person.
            connection.execute(
                text(
                    "INSERT INTO licence_intervals (client_id, product_id, user_key, source, start_at, "
                    "created_at) VALUES (1, 1, NULL, 'usage', :at, :at)"
                ),
                {"at": AT},
            )
        with pytest.raises(IntegrityError), engine.begin() as connection:
            # Still one open interval per seat.
            connection.execute(
                text(
                    "INSERT INTO licence_intervals (client_id, product_id, user_key, seat_id, source, "
                    "start_at, created_at) VALUES (1, 1, NULL, 2, 'seat', :at, :at)"
                ),
                {"at": AT},
            )

        command.downgrade(config, "0009")
        with engine.connect() as connection:
            assert _rows(connection) == [(1, 1, "alice@acme.example", 1, "seat", None)]
    finally:
        engine.dispose()
