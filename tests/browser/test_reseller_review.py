"""The reseller reviews last month's bills in a real browser: the home page, the review, a drill-down
into one client's bill, a hold, "approve all", and the SPLA report downloaded as CSV.

The portal runs as its own process (``flask run``) on a scratch database filled through the services
(clients, people, seats moved through provisioning's lifecycle, usage from an RMM) and closed with
``flask --app wsgi billing close``, exactly as an operator would. No Stripe key is configured, so
approval must say plainly that nothing was sent for payment.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from metering.periods import BillingPeriod
from portal.accounts.models import Role
from portal.db import utcnow
from tests.browser.conftest import (
    ARTIFACTS,
    REPO_ROOT,
    _bin,
    _portal_environment,
    _set_up_database,
    fill_business,
    log_in,
)
from tests.conftest import TEST_PASSWORD, ScratchDatabases
from tests.portal.reseller.world import UTC_ZONE
from tests.standins.aws import MotoServer
from tests.standins.ports import LOOPBACK, free_port, start_server, stop_process

pytestmark = pytest.mark.slow

RESELLER_EMAIL = "ada@northwind-it.example"


@dataclass(frozen=True)
class ReviewPortal:
    url: str
    period: BillingPeriod
    log: Path


@pytest.fixture(scope="module")
def review_portal(
    chromium: Path, scratch_databases: ScratchDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReviewPortal]:
    work = tmp_path_factory.mktemp("reseller-portal")
    port = free_port()
    # No Celery worker runs here and nothing provisions, so no AWS endpoint is ever called.
    unused_aws = MotoServer(endpoint_url=f"http://{LOOPBACK}:9")
    env = _portal_environment(
        scratch_databases.create_migrated("reseller"),
        os.environ.get("CELERY_BROKER_URL") or f"sqla+sqlite:///{work / 'broker.sqlite'}",
        f"reseller-{secrets.token_hex(4)}",
        unused_aws,
        "d-0000000000",
        work,
        port,
    )
    period = BillingPeriod.containing(utcnow(), UTC_ZONE).previous()
    _set_up_database(env, work)
    fill_business(env, work, period, (RESELLER_EMAIL, "Ada Lovelace", Role.RESELLER_ADMIN))
    closed = subprocess.run(
        [_bin("flask"), "--app", "wsgi", "billing", "close", str(period)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert closed.returncode == 0, closed.stderr
    assert "3 created" in closed.stdout, closed.stdout
    web = start_server(
        [_bin("flask"), "--app", "wsgi", "run", "--host", LOOPBACK, "--port", str(port), "--no-reload"],
        port,
        work / "web.log",
        cwd=REPO_ROOT,
        env=env,
        timeout=30,
    )
    try:
        yield ReviewPortal(url=f"http://{LOOPBACK}:{port}", period=period, log=work / "web.log")
    finally:
        stop_process(web)


def test_reseller_reviews_the_month_approves_all_and_downloads_the_spla_report(
    review_portal: ReviewPortal, browser_page, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    month = review_portal.period.label
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    log_in(page, review_portal.url, RESELLER_EMAIL, TEST_PASSWORD)

    # Home: the run rate, what is due, and the charts drawn from the data.
    expect(page.get_by_role("heading", name="Home")).to_be_visible()
    expect(page.locator("#mrr")).to_contain_text("$297.00")
    expect(page.locator("#spla-status")).to_contain_text(f"SPLA report for {month}")
    expect(page.locator(f"#drafts-{review_portal.period}")).to_contain_text("3 draft bills")
    expect(page.locator("svg.chart")).to_have_count(3)
    page.screenshot(path=str(ARTIFACTS / "reseller-home.png"), full_page=True)

    # The review of the month: every client's draft, changes by name, flags.
    page.locator("header nav").get_by_role("link", name="Bill review", exact=True).click()
    expect(page.get_by_role("heading", name=f"Bill review: {month}")).to_be_visible()
    acme = page.locator('[data-client="acme"]')
    expect(acme).to_contain_text("Added: Carol Cruz")
    expect(acme).to_contain_text("Removed: Bob Baker")
    expect(acme).to_contain_text("Usage reported with no seat in the portal for: ghost@acme.example.")
    expect(page.locator('[data-client="bright"]')).to_contain_text("No payment method on file")
    page.screenshot(path=str(ARTIFACTS / "reseller-review.png"), full_page=True)

    # Drill into one client's bill: who held each line's product, on which days.
    acme.get_by_role("link", name="Details of Acme Law LLP").click()
    expect(page.get_by_role("heading", name=f"Acme Law LLP: {month}")).to_be_visible()
    carol = page.locator('tr[data-user="carol@acme.example"]')
    expect(carol).to_contain_text("Carol Cruz")
    expect(carol.locator("td.num")).to_have_text("27")  # from the 5th to the end of the month
    expect(page.locator('tr[data-user="ghost@acme.example"]')).to_contain_text("no seat")
    page.screenshot(path=str(ARTIFACTS / "reseller-bill.png"), full_page=True)
    page.get_by_role("link", name=f"← Bill review: {month}").click()

    # Hold one bill, then approve all: the held one is skipped, and Stripe's absence is said plainly.
    bright = page.locator('[data-client="bright"]')
    bright.get_by_text("Hold…").click()
    bright.get_by_label("Why hold it").fill("Dr. Bright disputes the number of desktops")
    bright.get_by_role("button", name="Hold").click()
    expect(page.get_by_text("Bright Smile Dental's bill is held")).to_be_visible()
    page.get_by_role("button", name="Approve all 2 drafts").click()
    flash = page.locator(".flash-success")
    expect(flash).to_contain_text(f"2 bills of {month} approved and finalized. 1 held bill was skipped.")
    expect(flash).to_contain_text("Stripe is not configured (STRIPE_API_KEY is not set)")
    expect(page.locator('[data-client="acme"]')).to_contain_text(
        "not sent for payment: Stripe is not configured"
    )
    expect(page.locator('[data-client="bright"]')).to_contain_text("Held: Dr. Bright disputes")

    # The SPLA report for the distributor, downloaded as CSV and read back.
    page.locator("header nav").get_by_role("link", name="SPLA", exact=True).click()
    expect(page.get_by_role("heading", name=f"SPLA report: {month}")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == f"spla-{review_portal.period}.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert [(r["end_customer"], r["sku"], r["quantity"]) for r in rows] == [
        ("Acme Law LLP", "EXSTD-SAL", "1"),
        ("Acme Law LLP", "OFFSTD-SAL", "3"),
        ("Acme Law LLP", "WINRDS-SAL", "3"),
        ("Bright Smile Dental", "OFFSTD-SAL", "4"),
        ("Bright Smile Dental", "WINRDS-SAL", "4"),
        ("Ledgerline Accountants", "EXSTD-SAL", "2"),
    ]
    assert {r["period"] for r in rows} == {str(review_portal.period)}

    page.get_by_label("Distributor's reference").fill("PO-2026-7781")
    page.get_by_role("button", name="Mark submitted").click()
    expect(page.locator("#filing")).to_contain_text(f"Submitted by {RESELLER_EMAIL}")
    page.screenshot(path=str(ARTIFACTS / "reseller-spla.png"), full_page=True)


def test_the_reseller_pages_and_their_charts_break_no_rule_of_the_content_security_policy(
    review_portal: ReviewPortal, browser_page
) -> None:
    from playwright.sync_api import expect

    from tests.browser.conftest import RECORD_POLICY_VIOLATIONS, policy_violations

    page = browser_page
    page.context.add_init_script(RECORD_POLICY_VIOLATIONS)
    log_in(page, review_portal.url, RESELLER_EMAIL, TEST_PASSWORD)
    expect(page.get_by_role("heading", name="Home")).to_be_visible()

    period = str(review_portal.period)
    paths = [
        "/reseller/",
        f"/reseller/review/{period}",
        f"/reseller/spla/{period}",
        f"/reseller/exports/{period}",
        "/reseller/clients",
        "/reseller/audit/",
        "/reseller/webhooks/",
    ]
    assert policy_violations(page, review_portal.url, paths) == []
    page.goto(f"{review_portal.url}/reseller/")
    expect(page.locator("svg.chart").first).to_be_visible()


def test_the_reseller_pages_fit_a_phone_and_mark_where_you_are(
    review_portal: ReviewPortal, browser_page
) -> None:
    from playwright.sync_api import expect

    from tests.browser.conftest import wider_than_a_phone

    page = browser_page
    log_in(page, review_portal.url, RESELLER_EMAIL, TEST_PASSWORD)
    expect(page.get_by_role("heading", name="Home")).to_be_visible()

    period = str(review_portal.period)
    paths = [
        "/reseller/",
        f"/reseller/review/{period}",
        f"/reseller/spla/{period}",
        f"/reseller/exports/{period}",
        "/reseller/clients",
        "/reseller/price-book/",
        "/reseller/provisioning/",
        "/reseller/trueups/",
        "/reseller/audit/",
        "/reseller/webhooks/",
    ]
    assert wider_than_a_phone(page, review_portal.url, paths) == []
    page.goto(f"{review_portal.url}/reseller/review/{period}")
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Bill review")
    # The first Tab reaches the skip link, which takes the keyboard past the navigation.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
