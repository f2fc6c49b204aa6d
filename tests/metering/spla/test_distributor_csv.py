"""The SPLA CSV the distributor imports: Microsoft part numbers, SKU names, quantities, unit cost and
the end customer's name and address (issue 11, "What is wrong now" item 6)."""

from __future__ import annotations

import csv
import io

from portal.catalog.services import get_sku
from portal.db import db
from tests.metering.months import event


def test_the_distributor_reads_part_numbers_and_the_end_customers_address(runner, month, make_client, travel):
    acme = make_client("acme", "Acme Law LLP")
    acme.billing_address = "12 High Street\nSpringfield\n"
    db.session.commit()
    month.events(event("e1", "acme", "alice@acme.example", "desktop-pro", "start", "2026-10-03T09:00:00Z"))
    set_number = runner.invoke(args=["catalog", "set-part-number", "offpro-sal", "269-12443"])
    assert set_number.output == "OFFPRO-SAL is reported as 269-12443.\n"
    travel("2026-11-02T12:00:00Z")

    exported = runner.invoke(args=["billing", "spla-report", "2026-10"]).output

    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [
        (
            r["part_number"],
            r["sku_name"],
            r["quantity"],
            r["unit_cost"],
            r["end_customer"],
            r["end_customer_address"],
        )
        for r in rows
    ] == [
        (
            "269-12443",
            "Office Professional Plus SAL",
            "1",
            "20.10",
            "Acme Law LLP",
            "12 High Street, Springfield",
        ),
        (
            "6WC-00002",
            "Windows Server Remote Desktop Services SAL",
            "1",
            "5.20",
            "Acme Law LLP",
            "12 High Street, Springfield",
        ),
    ]


def test_a_part_number_that_is_not_one_is_a_plain_line_and_nothing_is_saved(runner, month):
    result = runner.invoke(args=["catalog", "set-part-number", "OFFSTD-SAL", "office standard"])

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: “OFFICE STANDARD” is not a Microsoft part number: three letters or digits, a dash and five "
        "digits, like 6WC-00002."
    ]
    db.session.expire_all()
    assert get_sku("OFFSTD-SAL").part_number is None


def test_seeding_again_keeps_a_part_number_the_reseller_set(runner, month):
    assert runner.invoke(args=["catalog", "set-part-number", "WINRDS-SAL", "6WC-99999"]).exit_code == 0

    assert runner.invoke(args=["catalog", "seed"]).exit_code == 0

    db.session.expire_all()
    assert get_sku("WINRDS-SAL").part_number == "6WC-99999"
    assert get_sku("WINSTD-2CORE").part_number == "9EM-00562"
