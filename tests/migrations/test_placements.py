"""Migration 0015: every product is placed where PROVISIONING_ADAPTERS put its kind, with its SKUs."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import import_module

import pytest
from alembic import command
from sqlalchemy import Connection, text

from portal.cli import alembic_config
from portal.db import build_engine

AT = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


def _populate(connection: Connection) -> None:
    """As revision 0014 stored them: a desktop with two SALs, a VoIP seat with none, one interval each."""
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
            "billing, unit, updated_at) VALUES (:id, :code, :code, '', :kind, 3900, 'USD', :yes, "
            "'per_user', 'user', :at)"
        ),
        [
            {"id": 1, "code": "desktop", "kind": "desktop", "yes": True, "at": AT},
            {"id": 2, "code": "voip", "kind": "voip", "yes": True, "at": AT},
        ],
    )
    connection.execute(
        text(
            "INSERT INTO licence_skus (id, code, name, unit, spla_cost_minor, currency, updated_at) "
            "VALUES (:id, :code, :code, 'per_user', 520, 'USD', :at)"
        ),
        [{"id": 1, "code": "WINRDS-SAL", "at": AT}, {"id": 2, "code": "OFFSTD-SAL", "at": AT}],
    )
    connection.execute(
        text("INSERT INTO product_licences (product_id, sku_id) VALUES (1, 1), (1, 2)"),
    )
    connection.execute(
        text(
            "INSERT INTO licence_intervals (client_id, product_id, user_key, source, start_at, created_at) "
            "VALUES (1, :product, 'alice@acme.example', 'usage', :at, :at)"
        ),
        [{"product": 1, "at": AT}, {"product": 2, "at": AT}],
    )


def test_products_and_intervals_are_placed_on_todays_adapters(scratch_databases, monkeypatch):
    monkeypatch.setenv("PROVISIONING_ADAPTERS", "desktop=active_directory,voip=none")
    url = scratch_databases.create("placements")
    config = alembic_config(url)
    command.upgrade(config, "0014_invoice_documents")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            _populate(connection)

        command.upgrade(config, "0015_placements")
        with engine.connect() as connection:
            products = connection.execute(text("SELECT code, platform FROM products ORDER BY id")).all()
            placements = connection.execute(
                text(
                    "SELECT products.code, product_placements.platform, effective_from, licence_skus.code "
                    "FROM product_placements JOIN products ON products.id = product_id "
                    "JOIN placement_licences ON placement_id = product_placements.id "
                    "JOIN licence_skus ON licence_skus.id = placement_licences.sku_id "
                    "ORDER BY licence_skus.code"
                )
            ).all()
            intervals = connection.execute(
                text("SELECT product_id, platform FROM licence_intervals ORDER BY product_id")
            ).all()
            programmes = connection.execute(text("SELECT DISTINCT programme FROM licence_skus")).all()
        assert [tuple(row) for row in products] == [("desktop", "active_directory"), ("voip", None)]
        assert [tuple(row) for row in placements] == [
            ("desktop", "active_directory", "2000-01", "OFFSTD-SAL"),
            ("desktop", "active_directory", "2000-01", "WINRDS-SAL"),
        ]
        assert [tuple(row) for row in intervals] == [(1, "active_directory"), (2, None)]
        assert [tuple(row) for row in programmes] == [("spla",)]
    finally:
        engine.dispose()


@pytest.mark.parametrize("raw", ["", "desktop=workspaces"])
def test_without_the_variable_desktops_are_placed_on_workspaces(raw):
    migration = import_module("migrations.versions.0015_placements")

    assert migration.adapters_by_kind(raw) == {
        "desktop": "workspaces",
        "mailbox": "workmail",
        "voip": "kamailio",
    }
