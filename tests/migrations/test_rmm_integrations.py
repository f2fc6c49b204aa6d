"""Migration 0014_rmm_integrations: stored usage events become the reseller's (ids unique per sender);
tokens keep their role and scope; an integration's `e-1` no longer clashes with the reseller's."""

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
    """As revision 0013 stored them: a client, a product, a reseller token and two events."""
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
            "billing, unit, updated_at) VALUES (1, 'desktop', 'Desktop', '', 'desktop', 4150, 'USD', :yes, "
            "'per_user', 'user', :at)"
        ),
        {"yes": True, "at": AT},
    )
    connection.execute(
        text(
            "INSERT INTO api_tokens (id, name, token_hash, token_prefix, role, client_id, created_at) "
            "VALUES (1, 'PSA', :hash, 'smt_abc', 'reseller_admin', NULL, :at)"
        ),
        {"hash": "a" * 64, "at": AT},
    )
    connection.execute(
        text(
            "INSERT INTO usage_events (id, event_id, client_id, product_id, user_key, action, at, quantity, "
            "received_at, received_from) "
            "VALUES (:id, :event_id, 1, 1, 'ann@acme.example', :action, :at, NULL, :at, 'API token PSA')"
        ),
        [
            {"id": 1, "event_id": "e-1", "action": "start", "at": AT},
            {"id": 2, "event_id": "e-2", "action": "stop", "at": datetime(2026, 10, 9, tzinfo=UTC)},
        ],
    )


def test_stored_events_become_the_resellers_and_ids_are_unique_per_sender(scratch_databases):
    url = scratch_databases.create("rmm_integrations")
    config = alembic_config(url)
    command.upgrade(config, "0013")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            _populate(connection)

        command.upgrade(config, "0014_rmm_integrations")

        with engine.connect() as connection:
            events = connection.execute(
                text("SELECT id, sender, event_id FROM usage_events ORDER BY id")
            ).all()
            token = connection.execute(text("SELECT role, client_id, integration_id FROM api_tokens")).one()
        assert [tuple(row) for row in events] == [(1, "reseller", "e-1"), (2, "reseller", "e-2")]
        assert tuple(token) == ("reseller_admin", None, None)

        insert = text(
            "INSERT INTO usage_events (id, sender, event_id, client_id, product_id, user_key, action, at, "
            "received_at, received_from) "
            "VALUES (:id, :sender, 'e-1', 1, 1, 'bob@acme.example', 'start', :at, :at, '')"
        )
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO integrations (id, source, name, created_at) VALUES (1, 'ninjaone', 'N', :at)"
                ),
                {"at": AT},
            )
            connection.execute(insert, {"id": 3, "sender": "integration:1", "at": AT})
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(insert, {"id": 4, "sender": "reseller", "at": AT})
        # A token of the integration role must name its integration, and nothing else.
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_tokens (id, name, token_hash, token_prefix, role, created_at) "
                    "VALUES (2, 'RMM', :hash, 'smt_x', 'integration', :at)"
                ),
                {"hash": "b" * 64, "at": AT},
            )

        command.downgrade(config, "0013")
        with engine.connect() as connection:
            kept = connection.execute(text("SELECT event_id FROM usage_events ORDER BY id")).scalars().all()
        assert kept == ["e-1", "e-2"]
    finally:
        engine.dispose()
