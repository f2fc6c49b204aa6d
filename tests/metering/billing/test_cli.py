"""``flask --app wsgi billing …``: close with a progress bar, finalize, the SPLA CSV, hosts."""

from __future__ import annotations

import pytest

import metering.billing.close
from portal.db import db
from tests.metering.months import event


def test_close_and_finalize_from_the_command_line(runner, month, make_client, travel):
    make_client("acme")
    make_client("bright")
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "bright", "dana@bright.example", "exchange", "start", "2026-10-03T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")

    closed = runner.invoke(args=["billing", "close", "2026-10"])

    assert closed.exit_code == 0, closed.output
    assert "October 2026: 2 clients visited (2 created)." in closed.output
    assert "Closing" in closed.output and "2/2" in closed.output  # tqdm's bar (stderr)
    again = runner.invoke(args=["billing", "close", "2026-10"])
    assert "(2 unchanged)" in again.output

    finalized = runner.invoke(args=["billing", "finalize", "2026-10"])
    assert finalized.exit_code == 0, finalized.output
    assert "October 2026: 2 invoices finalized." in finalized.output
    assert [invoice["status"] for invoice in month.invoices("2026-10")] == ["finalized", "finalized"]


def test_close_explains_a_bad_or_unfinished_month(runner, month, travel):
    travel("2026-10-20T12:00:00Z")

    assert "write it as YYYY-MM" in runner.invoke(args=["billing", "close", "Oct"]).output
    unfinished = runner.invoke(args=["billing", "close", "2026-10"])
    assert unfinished.exit_code == 1 and "October 2026 is not over yet" in unfinished.output


def test_spla_report_export_with_hosts(runner, month, make_client, tmp_path, travel):
    make_client("acme", "Acme Law LLP")
    month.events(event("e1", "acme", "alice@acme.example", "desktop-pro", "start", "2026-10-03T09:00:00Z"))
    hosts = ["billing", "hosts", "add"]
    added = runner.invoke(
        args=[
            *hosts,
            "rds-01",
            "--cores",
            "20",
            "--processors",
            "2",
            "--sku",
            "WINDC-2CORE",
            "--from",
            "2026-09-01",
        ]
    )
    assert added.exit_code == 0, added.output
    assert "rds-01: 10 two-core packs of WINDC-2CORE a month." in added.output
    runner.invoke(
        args=[
            *hosts,
            "old-01",
            "--cores",
            "4",
            "--processors",
            "1",
            "--sku",
            "WINSTD-2CORE",
            "--from",
            "2026-01-01",
        ]
    )
    retired = runner.invoke(args=["billing", "hosts", "retire", "old-01", "--at", "2026-10-01"])
    assert retired.exit_code == 0, retired.output
    assert "rds-01" in runner.invoke(args=["billing", "hosts", "list"]).output
    travel("2026-11-02T12:00:00Z")
    output = tmp_path / "spla.csv"

    result = runner.invoke(args=["billing", "spla-report", "2026-10", "--output", str(output)])

    assert result.exit_code == 0, result.output
    assert output.read_text().splitlines() == [
        "period,sku,sku_name,quantity,unit_cost,currency,end_customer,part_number,end_customer_address",
        "2026-10,WINDC-2CORE,Windows Server Datacenter 2-core pack,10,13.30,USD,,,",
        "2026-10,OFFPRO-SAL,Office Professional Plus SAL,1,20.10,USD,Acme Law LLP,,",
        "2026-10,WINRDS-SAL,Windows Server Remote Desktop Services SAL,1,5.20,USD,Acme Law LLP,6WC-00002,",
    ]
    september = runner.invoke(args=["billing", "spla-report", "2026-09"]).output
    # 16 cores at least per host (issue 11, item 5), where the old formula asked for ceil(max(4, 8) / 2) = 4.
    assert "WINSTD-2CORE,Windows Server Standard 2-core pack,8," in september  # ceil(max(4, 8, 16) / 2)


def test_a_per_user_sku_cannot_license_a_host(runner, month):
    result = runner.invoke(
        args=["billing", "hosts", "add", "h", "--cores", "8", "--processors", "1", "--sku", "WINRDS-SAL"]
    )

    assert result.exit_code == 1 and "licensed per user" in result.output


def test_a_client_that_fails_is_listed_and_the_others_keep_their_drafts(runner, month, make_client, travel):
    make_client("acme")
    make_client("bright")
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "bright", "dana@bright.example", "exchange", "start", "2026-10-03T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    real_rate_client = metering.billing.close.rate_client

    def rate_client(plan, client_id, invoice_id):
        if plan.refs[client_id] == "bright":
            raise ValueError("no price for exchange in 2026-10")
        return real_rate_client(plan, client_id, invoice_id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metering.billing.close, "rate_client", rate_client)
        closed = runner.invoke(args=["billing", "close", "2026-10"])

    assert closed.exit_code == 1
    assert "October 2026: 2 clients visited (1 created)." in closed.output
    assert "bright: no price for exchange in 2026-10" in closed.output
    assert "1 clients failed; fix them and run the close again" in closed.output
    db.session.rollback()
    assert [invoice["client"] for invoice in month.invoices("2026-10")] == ["acme"]


@pytest.mark.parametrize("when", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00", "1999-12-31"])
def test_a_host_date_out_of_range_is_a_plain_error(runner, month, when):
    args = ["billing", "hosts", "add", "h", "--cores", "8", "--processors", "1", "--sku", "WINDC-2CORE"]
    result = runner.invoke(args=[*args, "--from", when])

    assert result.exit_code == 1 and "--from: choose a date from 2000-01-01 to 2100-12-31" in result.output
