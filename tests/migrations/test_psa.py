"""Migration 0016_psa: new tables only; existing clients and products stay, nothing is mapped, and a
client or product cannot have two PSA mappings nor a month two records of one product."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from portal.cli import alembic_config
from portal.db import build_engine

AT = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


def test_existing_data_stays_and_the_psa_tables_start_empty(scratch_databases):
    url = scratch_databases.create("psa")
    config = alembic_config(url)
    command.upgrade(config, "0015_placements")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
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
                    "billing, unit, updated_at) VALUES (1, 'desktop', 'Desktop', '', 'desktop', 4150, 'USD', "
                    ":yes, 'per_user', 'user', :at)"
                ),
                {"yes": True, "at": AT},
            )

        command.upgrade(config, "0016_psa")

        with engine.connect() as connection:
            assert connection.execute(text("SELECT ref FROM clients")).scalar_one() == "acme"
            assert connection.execute(text("SELECT count(*) FROM psa_company_links")).scalar_one() == 0
            assert connection.execute(text("SELECT count(*) FROM psa_syncs")).scalar_one() == 0
        record = text(
            "INSERT INTO psa_syncs (client_id, product_id, period, quantity, state, overwrite, attempts, "
            "created_at, updated_at) VALUES (1, 1, '2026-10', 3, 'pending', :no, 0, :at, :at)"
        )
        with engine.begin() as connection:
            connection.execute(record, {"no": False, "at": AT})
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(record, {"no": False, "at": AT})

        command.downgrade(config, "0015_placements")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT ref FROM clients")).scalar_one() == "acme"
    finally:
        engine.dispose()
