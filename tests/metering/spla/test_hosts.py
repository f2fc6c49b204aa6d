"""Licensed hosts with editions and per-month VMs, as the SPLA report, margins and the command line see
them (issue 11, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from metering.counting import HostEdition
from metering.figures import monthly_figures
from metering.periods import BillingPeriod
from metering.settings import billing_timezone
from metering.spla.models import HostVm, LicensedHost
from metering.spla.services import add_host, record_host_vms
from portal.catalog.models import LicenceSku, LicenceUnit
from portal.catalog.services import get_sku
from portal.db import db
from portal.errors import InvalidInput
from tests.metering.months import TESTS

OCTOBER = BillingPeriod(2026, 10)
SINCE = datetime(2026, 9, 1, tzinfo=UTC)


def _sql_sku() -> LicenceSku:
    sku = LicenceSku(
        code="SQLSTD-2CORE",
        name="SQL Server Standard 2-core pack",
        unit=LicenceUnit.PER_CORE_PACK,
        spla_cost_minor=14000,
    )
    db.session.add(sku)
    db.session.flush()
    return sku


def test_standard_datacenter_and_sql_hosts_in_one_month(app, month):
    standard = add_host(TESTS, "std-01", 16, 2, get_sku("WINSTD-2CORE"), SINCE)
    datacenter = add_host(TESTS, "dc-01", 16, 2, get_sku("WINDC-2CORE"), SINCE)
    sql = add_host(TESTS, "sql-01", 16, 2, _sql_sku(), SINCE)
    six_vms: list[tuple[str, int | None]] = [(f"vm-{n}", None) for n in range(6)]
    assert record_host_vms(TESTS, standard, OCTOBER, six_vms) == 24
    assert record_host_vms(TESTS, datacenter, OCTOBER, six_vms) == 8
    assert record_host_vms(TESTS, sql, OCTOBER, [("db-small", 2)]) == 2
    db.session.commit()

    assert standard.edition is HostEdition.WINDOWS_STANDARD
    assert datacenter.edition is HostEdition.WINDOWS_DATACENTER
    assert sql.edition is HostEdition.SQL_STANDARD
    assert sorted(month.spla("2026-10")) == [
        (None, "SQLSTD-2CORE", 2),
        (None, "WINDC-2CORE", 8),
        (None, "WINSTD-2CORE", 24),
    ]
    # September had no VMs recorded: Standard licenses its cores once, SQL its physical cores.
    assert sorted(month.spla("2026-09")) == [
        (None, "SQLSTD-2CORE", 8),
        (None, "WINDC-2CORE", 8),
        (None, "WINSTD-2CORE", 8),
    ]


def test_recording_a_month_again_replaces_its_vms_and_leaves_other_months(app, month):
    host = add_host(TESTS, "std-01", 16, 2, get_sku("WINSTD-2CORE"), SINCE)
    record_host_vms(TESTS, host, OCTOBER, [(f"vm-{n}", None) for n in range(6)])
    record_host_vms(TESTS, host, BillingPeriod(2026, 11), [("vm-0", None)])
    assert record_host_vms(TESTS, host, OCTOBER, [("vm-0", None), ("vm-1", None), ("vm-2", None)]) == 16
    db.session.commit()

    assert month.spla("2026-10") == [(None, "WINSTD-2CORE", 16)]
    assert month.spla("2026-11") == [(None, "WINSTD-2CORE", 8)]


def test_a_sql_vm_without_vcpus_is_refused_and_nothing_is_saved(app, month):
    host = add_host(TESTS, "sql-01", 16, 2, _sql_sku(), SINCE)
    db.session.commit()

    with pytest.raises(InvalidInput, match="give each VM its vCPUs"):
        record_host_vms(TESTS, host, OCTOBER, [("db-1", 4), ("db-2", None)])
    db.session.rollback()

    assert db.session.scalar(select(func.count()).select_from(HostVm)) == 0


def test_the_command_line_adds_a_standard_host_and_records_its_vms(runner, month):
    added = runner.invoke(
        args=[
            "billing", "hosts", "add", "std-01", "--edition", "windows-standard",
            "--cores", "16", "--processors", "2", "--sku", "WINSTD-2CORE", "--from", "2026-09-01",
        ]
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "std-01: 8 two-core packs of WINSTD-2CORE a month." in added.output
    assert "Licensed as Windows Server Standard." in added.output

    vms = runner.invoke(args=["billing", "hosts", "vms", "std-01", "2026-10", *[f"vm-{n}" for n in range(6)]])

    assert vms.exit_code == 0, vms.output
    assert vms.output == "std-01 in 2026-10: 6 VMs, 24 two-core packs of WINSTD-2CORE.\n"
    listed = runner.invoke(args=["billing", "hosts", "list", "--period", "2026-10"]).output
    assert (
        "Windows Server Standard" in listed
        and "6 VMs in 2026-10" in listed
        and " 24 x WINSTD-2CORE" in listed
    )


def test_a_host_with_0_cores_is_one_plain_line_and_nothing_is_saved(runner, month):
    result = runner.invoke(
        args=[
            "billing", "hosts", "add", "std-01", "--edition", "windows-standard",
            "--cores", "0", "--processors", "2", "--sku", "WINSTD-2CORE",
        ]
    )  # fmt: skip

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["Error: A host has at least one physical core."]
    assert db.session.scalar(select(func.count()).select_from(LicensedHost)) == 0


def test_vms_given_badly_on_the_command_line_are_one_plain_line(runner, month):
    runner.invoke(
        args=[
            "billing",
            "hosts",
            "add",
            "sql-01",
            "--cores",
            "16",
            "--processors",
            "2",
            "--sku",
            "WINDC-2CORE",
        ]
    )

    result = runner.invoke(args=["billing", "hosts", "vms", "sql-01", "2026-10", "db:two"])

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: “db:two”: write a VM as NAME or NAME:VCPUS, like sql-01:4."
    ]
    assert db.session.scalar(select(func.count()).select_from(HostVm)) == 0


def test_margins_cost_each_host_by_the_vms_it_ran_that_month(app, month):
    host = add_host(TESTS, "std-01", 16, 2, get_sku("WINSTD-2CORE"), SINCE)
    record_host_vms(TESTS, host, OCTOBER, [(f"vm-{n}", None) for n in range(6)])
    db.session.commit()

    september, october = monthly_figures([BillingPeriod(2026, 9), OCTOBER], billing_timezone(), "USD")

    assert september.cost_minor == 8 * 110  # its cores once: no VM recorded
    assert october.cost_minor == 24 * 110  # 6 VMs: its cores three times
