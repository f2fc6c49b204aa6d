"""Placements: a product's bill of licences follows the platform its seat was held on.

One October with Alice's desktop on Amazon WorkSpaces and Bob's at the colo (the Active Directory
adapter, RDS session hosts). The reseller places the desktop on both platforms from the command line:
on WorkSpaces it needs the AWS licence-included bundle ($25.00 a user, never reported to Microsoft),
at the colo a Remote Desktop SAL ($5.20) and an Office Standard SAL ($13.10). Desktop price $39.00.
Months are cut in UTC.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from metering.figures import monthly_figures
from metering.periods import BillingPeriod
from metering.spla.services import aws_cost_report, spla_report
from portal.catalog.models import Placement
from portal.db import db
from tests.metering.months import event, lines_of
from tests.metering.seat_steps import person, step
from tests.provisioning.conftest import order

OCTOBER = BillingPeriod(2026, 10)


def _place_desktops(runner) -> None:
    added = runner.invoke(
        args=[
            "catalog",
            "add-sku",
            "AWS-WSP-BUNDLE",
            "Amazon WorkSpaces Standard bundle (licence included)",
            "25.00",
            "--programme",
            "aws",
        ]
    )
    assert added.exit_code == 0, added.output
    on_aws = runner.invoke(args=["catalog", "set-placement", "desktop", "workspaces", "AWS-WSP-BUNDLE"])
    assert on_aws.output == "desktop on workspaces needs AWS-WSP-BUNDLE from October 2026.\n"
    at_colo = runner.invoke(
        args=["catalog", "set-placement", "desktop", "active_directory", "WINRDS-SAL", "OFFSTD-SAL"]
    )
    assert at_colo.output == "desktop on active_directory needs OFFSTD-SAL, WINRDS-SAL from October 2026.\n"


def _desktop_on(app, platform: str, client, name: str) -> None:
    # The adapter that provisions desktops when the seat is created is the placement it is held on.
    app.config["PROVISIONING_ADAPTERS"] = {**app.config["PROVISIONING_ADAPTERS"], "desktop": platform}
    seat = order(client, "desktop", 1, [person(client, name)]).seats[0]
    assert step(seat) == "create"


def test_desktops_on_workspaces_and_at_the_colo_in_one_month(app, runner, month, make_client, travel):
    acme = make_client("acme")
    travel("2026-09-20T12:00:00Z")
    _place_desktops(runner)

    travel("2026-10-01T12:00:00Z")
    _desktop_on(app, "workspaces", acme, "alice")
    _desktop_on(app, "active_directory", acme, "bob")

    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    # The client pays for two desktops, wherever they run.
    assert lines_of(month.invoice("acme", "2026-10")) == [("desktop", "2026-10", 2, 3900, 7800)]
    # Microsoft hears of Bob's colo desktop only.
    assert month.spla("2026-10") == [("acme", "OFFSTD-SAL", 1), ("acme", "WINRDS-SAL", 1)]
    spla_csv = runner.invoke(args=["billing", "spla-report", "2026-10"]).output
    assert "AWS-WSP-BUNDLE" not in spla_csv
    assert "2026-10,WINRDS-SAL,Windows Server Remote Desktop Services SAL,1,5.20,USD,Acme" in spla_csv
    # AWS's bundle for Alice is a cost of its own.
    aws = aws_cost_report(OCTOBER, ZoneInfo("UTC"))
    assert [(line.client, line.sku, line.quantity, line.unit_cost_minor) for line in aws.lines] == [
        ("acme", "AWS-WSP-BUNDLE", 1, 2500)
    ]
    assert aws.total_minor("USD") == 2500
    assert runner.invoke(args=["billing", "aws-cost-report", "2026-10"]).output == (
        "period,sku,sku_name,quantity,unit_cost,currency,end_customer,part_number,end_customer_address\n"
        "2026-10,AWS-WSP-BUNDLE,Amazon WorkSpaces Standard bundle (licence included),1,25.00,USD,Acme,,\n"
    )
    # Margins count every cost: $5.20 + $13.10 to Microsoft, $25.00 to AWS.
    (figures,) = monthly_figures([OCTOBER], ZoneInfo("UTC"), "USD")
    assert (figures.revenue_minor, figures.cost_minor, figures.margin_minor, figures.seats) == (
        7800,
        4330,
        3470,
        2,
    )
    assert spla_report(OCTOBER, ZoneInfo("UTC")).total_minor("USD") == 1830


def test_a_bill_of_licences_changed_in_november_leaves_octobers_reports_as_they_were(
    app, runner, month, make_client, travel
):
    acme = make_client("acme")
    travel("2026-09-20T12:00:00Z")
    _place_desktops(runner)
    travel("2026-10-01T12:00:00Z")
    _desktop_on(app, "active_directory", acme, "bob")
    travel("2026-11-02T12:00:00Z")
    october = runner.invoke(args=["billing", "spla-report", "2026-10"]).output

    # From November, colo desktops carry Office Professional Plus instead of Standard.
    changed = runner.invoke(
        args=["catalog", "set-placement", "desktop", "active_directory", "WINRDS-SAL", "OFFPRO-SAL"]
    )
    assert changed.output == "desktop on active_directory needs OFFPRO-SAL, WINRDS-SAL from December 2026.\n"
    runner.invoke(
        args=[
            "catalog",
            "set-placement",
            "desktop",
            "active_directory",
            "WINRDS-SAL",
            "OFFPRO-SAL",
            "--from",
            "2026-11",
        ]
    )

    assert runner.invoke(args=["billing", "spla-report", "2026-10"]).output == october
    assert month.spla("2026-11") == [("acme", "OFFPRO-SAL", 1), ("acme", "WINRDS-SAL", 1)]


def test_a_bad_placement_is_one_plain_line_and_nothing_is_saved(runner, month, make_client, travel):
    make_client("acme")
    travel("2026-10-05T12:00:00Z")

    unknown_sku = runner.invoke(args=["catalog", "set-placement", "desktop", "workspaces", "NOPE-SAL"])
    unknown_platform = runner.invoke(args=["catalog", "set-placement", "desktop", "citrix", "WINRDS-SAL"])
    not_a_month = runner.invoke(
        args=["catalog", "set-placement", "desktop", "workspaces", "--from", "October"]
    )

    for result in (unknown_sku, unknown_platform, not_a_month):
        assert result.exit_code != 0
        assert len(result.output.strip().splitlines()) == 1
    assert "NOPE-SAL" in unknown_sku.output
    assert "citrix" in unknown_platform.output
    assert "YYYY-MM" in not_a_month.output
    db.session.expire_all()
    assert db.session.query(Placement).count() == 0


def test_a_placement_cannot_change_a_month_with_finalized_invoices(runner, month, make_client, travel):
    make_client("acme")
    month.events(event("a1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")

    refused = runner.invoke(args=["catalog", "set-placement", "desktop", "workspaces", "--from", "2026-10"])

    assert refused.exit_code != 0
    assert refused.output.strip().splitlines() == [
        "Error: 2026-10 has finalized invoices, so bills of licences up to it can no longer change; "
        "choose 2026-11 or later."
    ]
    db.session.expire_all()
    assert db.session.query(Placement).count() == 0
    # October's report is what it was.
    assert month.spla("2026-10") == [("acme", "OFFSTD-SAL", 1), ("acme", "WINRDS-SAL", 1)]
