"""Migration 0016_host_editions: existing hosts keep their cores and get the edition their SKU names;
no VMs are recorded for them; a VM's vCPUs cannot be zero; downgrading keeps the hosts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from portal.cli import alembic_config
from portal.db import build_engine

AT = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


def test_existing_hosts_get_the_edition_their_sku_names(scratch_databases):
    url = scratch_databases.create("host_editions")
    config = alembic_config(url)
    command.upgrade(config, "0016_close_batches")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO licence_skus (id, code, name, unit, spla_cost_minor, currency, updated_at) "
                    "VALUES (:id, :code, :code, 'per_core_pack', 110, 'USD', :at)"
                ),
                [
                    {"id": 1, "code": "WINSTD-2CORE", "at": AT},
                    {"id": 2, "code": "WINDC-2CORE", "at": AT},
                    {"id": 3, "code": "SQLENT-2CORE", "at": AT},
                ],
            )
            connection.execute(
                text(
                    "INSERT INTO licensed_hosts (id, name, physical_cores, processors, sku_id, "
                    "in_service_from, created_at) VALUES (:id, :name, 16, 2, :sku, :at, :at)"
                ),
                [
                    {"id": 1, "name": "std-01", "sku": 1, "at": AT},
                    {"id": 2, "name": "dc-01", "sku": 2, "at": AT},
                    {"id": 3, "name": "sql-01", "sku": 3, "at": AT},
                ],
            )

        command.upgrade(config, "0016_host_editions")

        with engine.connect() as connection:
            hosts = connection.execute(
                text("SELECT name, physical_cores, processors, edition FROM licensed_hosts ORDER BY id")
            ).all()
            assert connection.execute(text("SELECT count(*) FROM host_vms")).scalar_one() == 0
        assert [tuple(row) for row in hosts] == [
            ("std-01", 16, 2, "windows_standard"),
            ("dc-01", 16, 2, "windows_datacenter"),
            ("sql-01", 16, 2, "sql_enterprise"),
        ]
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                text("INSERT INTO host_vms (host_id, period, name, vcpus) VALUES (3, '2026-10', 'db', 0)")
            )

        command.downgrade(config, "0016_close_batches")
        with engine.connect() as connection:
            names = connection.execute(text("SELECT name FROM licensed_hosts ORDER BY id")).scalars().all()
        assert names == ["std-01", "dc-01", "sql-01"]
    finally:
        engine.dispose()


def test_the_seeds_skus_get_their_known_part_numbers_and_others_none(scratch_databases):
    url = scratch_databases.create("sku_part_numbers")
    config = alembic_config(url)
    command.upgrade(config, "0016_host_editions")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO licence_skus (id, code, name, unit, spla_cost_minor, currency, updated_at) "
                    "VALUES (:id, :code, :code, 'per_user', 520, 'USD', :at)"
                ),
                [
                    {"id": 1, "code": "WINRDS-SAL", "at": AT},
                    {"id": 2, "code": "WINSTD-2CORE", "at": AT},
                    {"id": 3, "code": "OFFSTD-SAL", "at": AT},
                ],
            )

        command.upgrade(config, "0016_sku_part_numbers")

        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT code, spla_cost_minor, part_number FROM licence_skus ORDER BY id")
            ).all()
        assert [tuple(row) for row in rows] == [
            ("WINRDS-SAL", 520, "6WC-00002"),
            ("WINSTD-2CORE", 520, "9EM-00562"),
            ("OFFSTD-SAL", 520, None),
        ]
        command.downgrade(config, "0016_host_editions")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM licence_skus")).scalar_one() == 3
    finally:
        engine.dispose()
