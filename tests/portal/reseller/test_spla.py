"""The SPLA report page: quantities per client and SKU, the CSV for the distributor, and filing it."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from metering.spla.models import SplaSubmission
from metering.spla.services import spla_report, spla_report_csv
from portal.audit.models import AuditEvent
from portal.db import db
from tests.portal.reseller.conftest import OCTOBER
from tests.portal.reseller.world import UTC_ZONE, at, usage_start

SPLA = "/reseller/spla/2026-10"


def test_the_page_lists_the_report_with_costs(client, business, staff):
    page = client.get(SPLA).get_data(as_text=True)

    # 7 desktop users (RDS + Office Standard SALs), 3 mailbox users (Exchange SALs).
    assert '<tr id="sku-WINRDS-SAL"><td><code>WINRDS-SAL</code></td>' in page
    assert "$36.40" in page  # 7 x $5.20
    assert "$91.70" in page  # 7 x $13.10
    assert "$12.60" in page  # 3 x $4.20
    assert "due" in page and "Due November 10, 2026." in page
    assert 'href="/reseller/spla/2026-10/report.csv"' in page


def test_the_csv_download_is_the_distributors_file(client, business, staff):
    response = client.get(f"{SPLA}/report.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="spla-2026-10.csv"'
    body = response.get_data(as_text=True)
    assert body == spla_report_csv(spla_report(OCTOBER, UTC_ZONE))
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["end_customer"], r["sku"], r["quantity"], r["unit_cost"]) for r in rows] == [
        ("Acme Law LLP", "EXSTD-SAL", "1", "4.20"),
        ("Acme Law LLP", "OFFSTD-SAL", "3", "13.10"),
        ("Acme Law LLP", "WINRDS-SAL", "3", "5.20"),
        ("Bright Smile Dental", "OFFSTD-SAL", "4", "13.10"),
        ("Bright Smile Dental", "WINRDS-SAL", "4", "5.20"),
        ("Ledgerline Accountants", "EXSTD-SAL", "2", "4.20"),
    ]


def test_marking_it_submitted_records_who_and_when_once(client, business, staff):
    page = client.post(f"{SPLA}/submitted", data={"reference": "  PO 7781 "}, follow_redirects=True).get_data(
        as_text=True
    )

    assert "The October 2026 SPLA report is marked submitted." in page
    assert "Submitted by sam@northwind-it.example on 2026-11-03" in page
    assert "PO 7781" in page
    submission = db.session.get(SplaSubmission, "2026-10")
    assert submission.submitted_by == "sam@northwind-it.example"
    assert submission.reference == "PO 7781"
    assert {"client": "bright", "sku": "WINRDS-SAL", "quantity": 4} in submission.report
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "spla.report_submitted")).one()
    assert event.object_id == "2026-10"

    again = client.post(f"{SPLA}/submitted", data={}, follow_redirects=True).get_data(as_text=True)
    assert "already marked submitted by sam@northwind-it.example" in again


def test_late_usage_after_filing_shows_what_to_correct(client, business, staff):
    client.post(f"{SPLA}/submitted", data={})
    usage_start(business.ledger, "late@ledger.example", "exchange", at("2026-10-30T10:00:00"), "late-1")
    db.session.commit()

    page = client.get(SPLA).get_data(as_text=True)

    assert "Usage changed since the report was filed" in page
    assert (
        '<td>ledger</td><td><code>EXSTD-SAL</code></td><td class="num">2</td><td class="num">3</td>' in page
    )


def test_the_current_month_cannot_be_marked_submitted_yet(client, business, staff):
    page = client.get("/reseller/spla/2026-11").get_data(as_text=True)
    assert "November 2026 is not over yet" in page
    assert "Mark submitted" not in page

    response = client.post("/reseller/spla/2026-11/submitted", data={}, follow_redirects=True)
    assert "is not over yet" in response.get_data(as_text=True)
    assert db.session.get(SplaSubmission, "2026-11") is None


def test_a_bad_reference_is_a_field_error(client, business, staff):
    response = client.post(f"{SPLA}/submitted", data={"reference": "x" * 101})

    assert response.status_code == 422
    assert "Field cannot be longer than 100 characters." in response.get_data(as_text=True)
    assert db.session.get(SplaSubmission, "2026-10") is None


def test_a_month_without_usage_still_has_a_report(client, business, staff):
    page = client.get("/reseller/spla/2025-01").get_data(as_text=True)
    assert "file a zero report" in page
    rows = list(
        csv.reader(io.StringIO(client.get("/reseller/spla/2025-01/report.csv").get_data(as_text=True)))
    )
    assert rows == [
        [
            "period",
            "sku",
            "sku_name",
            "quantity",
            "unit_cost",
            "currency",
            "end_customer",
            "part_number",
            "end_customer_address",
        ]
    ]


def test_the_month_picker(client, business, staff):
    assert client.get("/reseller/spla/").headers["Location"] == SPLA  # last month
    assert client.get("/reseller/spla/?period=2026-09").headers["Location"] == "/reseller/spla/2026-09"
    bad = client.get("/reseller/spla/?period=2026-99")
    assert bad.status_code == 422 and "Write the month as YYYY-MM" in bad.get_data(as_text=True)
    assert client.get("/reseller/spla/2026-99").status_code == 404
