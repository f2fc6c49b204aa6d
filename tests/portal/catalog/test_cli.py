"""``flask --app wsgi catalog set-price CODE AMOUNT [--from YYYY-MM]``: a price from a month on."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.catalog.models import LicenceProgramme, LicenceSku, Placement
from portal.catalog.services import get_product
from portal.db import db
from tests.metering.months import Month, event


def _history() -> list[tuple[str, int]]:
    db.session.expire_all()
    return [(row.effective_from, row.amount_minor) for row in get_product("desktop").prices]


def test_set_price_takes_effect_next_month_by_default(runner, catalog, time_machine):
    time_machine.move_to("2026-11-02T12:00:00Z")

    result = runner.invoke(args=["catalog", "set-price", "desktop", "45"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "desktop costs $45.00 a month from December 2026."
    assert _history() == [("2000-01", 3900), ("2026-12", 4500)]


def test_set_price_from_a_named_month(runner, catalog, time_machine):
    time_machine.move_to("2026-11-02T12:00:00Z")

    result = runner.invoke(args=["catalog", "set-price", "desktop", "45", "--from", "2026-11"])

    assert result.exit_code == 0, result.output
    assert _history() == [("2000-01", 3900), ("2026-11", 4500)]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["desktop", "45", "--from", "2026-13"], "“2026-13” is not a month: write YYYY-MM"),
        (["desktop", "45", "--from", "next"], "“next” is not a month: write YYYY-MM"),
        (["desktop", "-5"], "The amount must be zero or more."),
        (["desktop", "-5", "--from", "2026-12"], "The amount must be zero or more."),
    ],
)
def test_bad_input_is_a_one_line_error_and_nothing_is_saved(runner, catalog, args, says):
    result = runner.invoke(args=["catalog", "set-price", *args])

    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert says in result.output
    assert _history() == [("2000-01", 3900)]


def test_a_month_with_finalized_invoices_is_refused(runner, catalog, make_client, time_machine):
    make_client("acme")
    month = Month()
    month.events(event("a1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    time_machine.move_to("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")

    result = runner.invoke(args=["catalog", "set-price", "desktop", "45", "--from", "2026-10"])

    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: 2026-10 has finalized invoices, so prices up to it can no longer change; "
        "choose 2026-11 or later."
    )
    assert _history() == [("2000-01", 3900)]


def _placements() -> list[tuple[str, str, str, list[str]]]:
    db.session.expire_all()
    rows = db.session.scalars(select(Placement).order_by(Placement.product_id, Placement.platform))
    return [
        (row.product.code, row.platform, row.effective_from, [sku.code for sku in row.skus]) for row in rows
    ]


def test_seeding_a_new_installation_places_desktops_and_mailboxes_on_aws_and_at_the_colo(runner):
    first = runner.invoke(args=["catalog", "seed"])
    second = runner.invoke(args=["catalog", "seed"])

    assert first.exit_code == 0, first.output
    assert "created placement desktop on workspaces from 2000-01" in first.output
    assert second.output.strip() == "Catalog already up to date."
    programmes = {sku.code: sku.programme for sku in db.session.scalars(select(LicenceSku))}
    assert {code for code, programme in programmes.items() if programme is LicenceProgramme.AWS} == {
        "AWS-WSP-STD",
        "AWS-WSP-PLUS",
        "AWS-WORKMAIL",
    }
    assert _placements() == [
        ("desktop", "active_directory", "2000-01", ["OFFSTD-SAL", "WINRDS-SAL"]),
        ("desktop", "workspaces", "2000-01", ["AWS-WSP-STD"]),
        ("desktop-pro", "active_directory", "2000-01", ["OFFPRO-SAL", "WINRDS-SAL"]),
        ("desktop-pro", "workspaces", "2000-01", ["AWS-WSP-PLUS"]),
        ("exchange", "workmail", "2000-01", ["AWS-WORKMAIL"]),
        ("exchange-plus", "workmail", "2000-01", ["AWS-WORKMAIL"]),
        ("voip", "kamailio", "2000-01", []),
    ]


def test_seeding_after_billing_places_only_from_the_first_unbilled_month(
    runner, catalog, make_client, time_machine
):
    make_client("acme")
    month = Month()
    month.events(event("a1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    time_machine.move_to("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    # The reseller placed Pro desktops on WorkSpaces with SPLA SALs itself: seeding keeps that.
    runner.invoke(args=["catalog", "set-placement", "desktop-pro", "workspaces", "WINRDS-SAL", "OFFPRO-SAL"])

    result = runner.invoke(args=["catalog", "seed"])

    assert result.exit_code == 0, result.output
    placed = _placements()
    assert ("desktop", "workspaces", "2026-11", ["AWS-WSP-STD"]) in placed
    assert ("desktop-pro", "workspaces", "2026-12", ["OFFPRO-SAL", "WINRDS-SAL"]) in placed
    assert [row for row in placed if row[:2] == ("desktop-pro", "workspaces")] == [
        ("desktop-pro", "workspaces", "2026-12", ["OFFPRO-SAL", "WINRDS-SAL"])
    ]
    # October was billed and reported with the products' own bills: no placement reaches back to it.
    assert {row[2] for row in placed} == {"2026-11", "2026-12"}
