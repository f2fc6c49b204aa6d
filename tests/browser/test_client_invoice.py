"""A client reads last month's invoice in a real browser: its state, due date, tax, per-person detail,
and the PDF; a screenshot of the invoice is saved with the browser-test artifacts.

The portal runs as its own process on a scratch database: the reseller's world filled through the
services, the reseller's profile and a VAT rate set, the month closed and finalized with the
``flask --app wsgi billing`` commands, exactly as an operator would.
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from metering.periods import BillingPeriod
from portal import create_app
from portal.accounts.models import Role
from portal.db import db, utcnow
from tests.browser.conftest import (
    ADMIN_EMAIL,
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
class InvoicePortal:
    url: str
    period: BillingPeriod


def _logo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 40), (15, 80, 150)).save(buffer, format="PNG")
    return buffer.getvalue()


def _set_profile_and_tax(env: dict[str, str], work: Path) -> None:
    from metering.tax.services import create_tax_rate, set_client_tax
    from portal.accounts.profile_services import (
        ResellerProfile,
        update_client_billing,
        update_reseller_profile,
    )
    from portal.accounts.services import get_client_by_ref
    from tests.portal.reseller.world import SETUP

    app = create_app(
        {
            "DATABASE_URL": env["DATABASE_URL"],
            "SECRET_KEY": env["SECRET_KEY"],
            "CELERY_BROKER_URL": "memory://",
            "INSTANCE_PATH": str(work / "profile-instance"),
        }
    )
    with app.app_context():
        update_reseller_profile(
            SETUP,
            ResellerProfile(
                name="Northwind Managed IT Sp. z o.o.",
                address="ul. Floriańska 1\n31-019 Kraków",
                tax_id="PL6762000000",
                support_email="help@northwind-it.example",
                payment_instructions="IBAN PL61 1090 1014 0000 0712 1981 2874",
                invoice_prefix="NW-",
                payment_terms_days=14,
                logo=_logo(),
            ),
        )
        acme = get_client_by_ref("acme")
        update_client_billing(
            SETUP, acme, "ap@acme.example", None, "ul. Łódzka 7/3\n31-222 Kraków", "PL1234563218"
        )
        vat = create_tax_rate(SETUP, "VAT", "23", False, "PL")
        set_client_tax(SETUP, acme, vat.id, False, None)
        db.session.commit()
    app.extensions["seatmeter.db"].engine.dispose()


def _billing(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [_bin("flask"), "--app", "wsgi", "billing", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def invoice_portal(
    chromium: Path, scratch_databases: ScratchDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InvoicePortal]:
    work = tmp_path_factory.mktemp("invoice-portal")
    port = free_port()
    unused_aws = MotoServer(endpoint_url=f"http://{LOOPBACK}:9")  # nothing provisions here
    env = _portal_environment(
        scratch_databases.create_migrated("invoice"),
        os.environ.get("CELERY_BROKER_URL") or f"sqla+sqlite:///{work / 'broker.sqlite'}",
        f"invoice-{secrets.token_hex(4)}",
        unused_aws,
        "d-0000000000",
        work,
        port,
    )
    period = BillingPeriod.containing(utcnow(), UTC_ZONE).previous()
    _set_up_database(env, work)
    fill_business(env, work, period, (RESELLER_EMAIL, "Ada Lovelace", Role.RESELLER_ADMIN))
    _set_profile_and_tax(env, work)
    _billing(env, "close", str(period))
    _billing(env, "finalize", str(period))
    web = start_server(
        [_bin("flask"), "--app", "wsgi", "run", "--host", LOOPBACK, "--port", str(port), "--no-reload"],
        port,
        work / "web.log",
        cwd=REPO_ROOT,
        env=env,
        timeout=30,
    )
    try:
        yield InvoicePortal(url=f"http://{LOOPBACK}:{port}", period=period)
    finally:
        stop_process(web)


def test_the_client_reads_its_invoice_with_tax_due_date_and_who_held_what(
    invoice_portal: InvoicePortal, browser_page
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_in(page, invoice_portal.url, ADMIN_EMAIL, TEST_PASSWORD)
    page.locator("header nav").get_by_role("link", name="Billing", exact=True).click()

    row = page.locator("#invoices tbody tr").first
    expect(row).to_contain_text(invoice_portal.period.label)
    expect(row).to_contain_text("Due")
    expect(row).not_to_contain_text("Finalized")
    expect(page.locator("#billing-details")).to_contain_text("ul. Łódzka 7/3, 31-222 Kraków")

    row.get_by_role("link", name="NW-").click()
    document = page.locator("#invoice-document")
    expect(document).to_contain_text("Northwind Managed IT Sp. z o.o.")
    expect(document).to_contain_text("ul. Łódzka 7/3")
    expect(page.locator("#doc-state")).to_have_text("Due")
    expect(document.locator(".doc-tax")).to_contain_text("VAT 23 %")
    expect(page.locator("#doc-payment")).to_contain_text("Your Visa ending 4242 will be charged on")
    expect(page.locator("#per-person")).to_contain_text("Carol Cruz")
    expect(page.locator("img.doc-logo")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "client-invoice.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    assert download_info.value.suggested_filename.startswith("invoice-NW-")


def test_the_invoice_pages_fit_a_phone_and_break_no_rule_of_the_content_security_policy(
    invoice_portal: InvoicePortal, browser_page
) -> None:
    from playwright.sync_api import expect

    from tests.browser.conftest import RECORD_POLICY_VIOLATIONS, policy_violations, wider_than_a_phone

    page = browser_page
    page.context.add_init_script(RECORD_POLICY_VIOLATIONS)
    log_in(page, invoice_portal.url, ADMIN_EMAIL, TEST_PASSWORD)
    expect(page.locator("header nav")).to_be_visible()
    page.goto(f"{invoice_portal.url}/billing/")
    href = page.locator("#invoices tbody tr a").first.get_attribute("href")
    assert href is not None
    paths = ["/billing/", href, "/client/billing-details"]

    assert policy_violations(page, invoice_portal.url, paths) == []
    assert wider_than_a_phone(page, invoice_portal.url, paths) == []
    page.screenshot(path=str(ARTIFACTS / "client-invoice-phone.png"), full_page=True)


def test_the_resellers_profile_and_tax_pages_fit_a_phone_and_keep_the_policy(
    invoice_portal: InvoicePortal, browser_page
) -> None:
    from playwright.sync_api import expect

    from tests.browser.conftest import RECORD_POLICY_VIOLATIONS, policy_violations, wider_than_a_phone

    page = browser_page
    page.context.add_init_script(RECORD_POLICY_VIOLATIONS)
    log_in(page, invoice_portal.url, RESELLER_EMAIL, TEST_PASSWORD)
    page.locator("header nav").get_by_role("link", name="Profile", exact=True).click()
    expect(page.get_by_label("Legal name")).to_have_value("Northwind Managed IT Sp. z o.o.")
    expect(page.locator("#current-logo")).to_be_visible()
    paths = ["/reseller/profile", "/reseller/tax-rates", "/reseller/clients/acme/billing"]

    assert policy_violations(page, invoice_portal.url, paths) == []
    assert wider_than_a_phone(page, invoice_portal.url, paths) == []
