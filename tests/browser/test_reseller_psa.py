"""The reseller connects billing to ConnectWise PSA in a real browser: maps each client to its
agreement and each billed product to a catalog item from the lists ConnectWise gives, approves the
month, and the worker (a real Celery process) sets every agreement addition to the month's billed
quantity; the PSA sync page says so, fits a phone, and breaks no rule of the content security policy.

The portal (``flask run``), the worker and the ConnectWise stand-in are separate processes on
127.0.0.1, configured from the environment as a production install is.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from metering.billing.models import Invoice, InvoiceStatus
from metering.periods import BillingPeriod
from metering.psa.services import month_quantities
from portal import create_app
from portal.accounts.models import Role
from portal.db import db, utcnow
from portal.demo.services import DEMO_CLIENTS, DEMO_PASSWORD, RESELLER_ADMIN_EMAIL
from tests.browser.conftest import (
    ARTIFACTS,
    RECORD_POLICY_VIOLATIONS,
    REPO_ROOT,
    _bin,
    _portal_environment,
    _set_up_database,
    fill_business,
    log_in,
    policy_violations,
    running_portal,
    wider_than_a_phone,
)
from tests.conftest import TEST_PASSWORD, ScratchDatabases
from tests.portal.reseller.world import UTC_ZONE
from tests.sandbox.demo_run import DemoRun
from tests.standins.aws import MotoServer
from tests.standins.connectwise import ConnectWiseServer
from tests.standins.ports import LOOPBACK, free_port

pytestmark = pytest.mark.slow

RESELLER_EMAIL = "ada@northwind-it.example"
COMPANIES = ("Acme Law LLP", "Bright Smile Dental", "Ledgerline Accountants")
ITEMS = {"Hosted Desktop": "DESKTOP", "Hosted Exchange Mailbox": "MAILBOX"}
PRODUCT_CODES = {"Hosted Desktop": "desktop", "Hosted Exchange Mailbox": "exchange"}


@dataclass(frozen=True)
class PsaPortal:
    url: str
    period: BillingPeriod
    database_url: str
    work: Path


def _start_worker(env: dict[str, str], queues: str, log_path: Path) -> subprocess.Popen[bytes]:
    argv = [
        _bin("celery"),
        "-A",
        "portal.worker:celery",
        "worker",
        "--queues",
        queues,
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log_path.open("wb") as log:
        return subprocess.Popen(  # fixed argument list
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env, start_new_session=True
        )


@pytest.fixture(scope="module")
def psa_portal(
    chromium: Path,
    scratch_databases: ScratchDatabases,
    connectwise_server: ConnectWiseServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PsaPortal]:
    work = tmp_path_factory.mktemp("psa-portal")
    port = free_port()
    queue = f"psa-{secrets.token_hex(4)}"
    database_url = scratch_databases.create_migrated("psa_browser")
    env = _portal_environment(
        database_url,
        # A broker of its own: the PSA task goes to the default queue, which no other test's worker reads.
        f"sqla+sqlite:///{work / 'broker.sqlite'}",
        queue,
        MotoServer(endpoint_url=f"http://{LOOPBACK}:9"),  # nothing is provisioned here
        "d-0000000000",
        work,
        port,
    )
    env.update(connectwise_server.settings(), CONNECTWISE_PAGE_SIZE="2")
    connectwise_server.reset()
    companies = connectwise_server.seed(
        companies=[{"identifier": name.split()[0], "name": name} for name in COMPANIES]
    )["companies"]
    connectwise_server.seed(agreements=[{"company_id": company, "name": "Licences"} for company in companies])
    connectwise_server.seed(
        catalog=[{"identifier": code, "description": name} for name, code in ITEMS.items()]
        + [{"identifier": "BACKUP", "description": "Cloud backup"}]
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
    with running_portal(env, work, f"seatmeter,{queue}"):
        yield PsaPortal(url=f"http://{LOOPBACK}:{port}", period=period, database_url=database_url, work=work)


def _billed(portal: PsaPortal) -> dict[tuple[str, str], int]:
    """(company, catalog item) -> the month's billed quantity, read from the finalized invoices."""
    app = create_app(
        {
            "DATABASE_URL": portal.database_url,
            "SECRET_KEY": "read-only-check-" + "x" * 16,
            "CELERY_BROKER_URL": "memory://",
            "INSTANCE_PATH": str(portal.work / "check-instance"),
        }
    )
    billed: dict[tuple[str, str], int] = {}
    with app.app_context():
        invoices = db.session.scalars(
            select(Invoice).where(Invoice.period == str(portal.period), Invoice.status != InvoiceStatus.DRAFT)
        )
        for invoice in invoices:
            for product_id, quantity in month_quantities(invoice).items():
                line = next(line for line in invoice.lines if line.product_id == product_id)
                billed[(invoice.client.name, ITEMS[line.product.name])] = quantity
    app.extensions["seatmeter.db"].engine.dispose()
    return billed


def test_the_reseller_maps_the_psa_approves_the_month_and_the_agreements_follow(
    psa_portal: PsaPortal, connectwise_server: ConnectWiseServer, browser_page
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.context.add_init_script(RECORD_POLICY_VIOLATIONS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_in(page, psa_portal.url, RESELLER_EMAIL, TEST_PASSWORD)
    expect(page.get_by_role("heading", name="Home")).to_be_visible()

    page.locator("header nav").get_by_role("link", name="PSA", exact=True).click()
    expect(page.get_by_role("heading", name="PSA sync")).to_be_visible()
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("PSA")
    expect(page.locator("#psa-records")).to_contain_text("Nothing sent to a PSA yet")
    page.get_by_role("link", name="Map clients and products").click()

    # Every client to its company's agreement, picked from what ConnectWise lists (read 2 a page).
    expect(page.get_by_role("heading", name="PSA mapping")).to_be_visible()
    for company in COMPANIES:
        row = page.locator("#psa-clients tbody tr").filter(
            has=page.get_by_role("cell", name=company, exact=True)
        )
        row.get_by_label("Agreement").select_option(label=f"{company}: Licences")
        row.get_by_role("button", name="Save").click()
        expect(page.locator(".flash-success")).to_contain_text(f"{company} bills on {company}: Licences.")
    for product, code in ITEMS.items():
        row = page.locator(f"#product-{PRODUCT_CODES[product]}")
        row.get_by_label("Catalog item").select_option(label=f"{code}: {product}")
        row.get_by_role("button", name="Save").click()
        expect(page.locator(".flash-success")).to_contain_text(
            f"{product} is {code}: {product} in ConnectWise."
        )
    page.screenshot(path=str(ARTIFACTS / "reseller-psa-mapping.png"), full_page=True)

    # Approving the month finalizes it; the worker sends the quantities to ConnectWise.
    page.locator("header nav").get_by_role("link", name="Bill review", exact=True).click()
    page.get_by_role("button", name="Approve all 3 drafts").click()
    expect(page.locator(".flash-success")).to_contain_text("approved and finalized")
    page.locator("header nav").get_by_role("link", name="PSA", exact=True).click()
    deadline = time.monotonic() + 60
    while "0 pending" not in page.locator("#count-pending").inner_text() and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    expect(page.locator("#count-pending")).to_have_text("0 pending")
    expect(page.locator("#count-failed")).to_have_text("0 failed")
    page.screenshot(path=str(ARTIFACTS / "reseller-psa.png"), full_page=True)

    agreements: dict[int, list[dict]] = {}
    for addition in connectwise_server.additions():
        agreements.setdefault(addition["agreementId"], []).append(addition)
    sent = {
        (company, addition["product"]["identifier"]): int(addition["quantity"])
        for agreement_id, additions in agreements.items()
        for addition in additions
        for company in [_company_of(connectwise_server, agreement_id)]
    }
    assert sent == _billed(psa_portal)
    assert len(connectwise_server.additions()) == len(sent)

    assert wider_than_a_phone(page, psa_portal.url, ["/reseller/psa/", "/reseller/psa/mapping"]) == []
    page.set_viewport_size({"width": 1280, "height": 900})
    assert policy_violations(page, psa_portal.url, ["/reseller/psa/", "/reseller/psa/mapping"]) == []


def _company_of(server: ConnectWiseServer, agreement_id: int) -> str:
    from metering.psa.connectwise import ConnectWise, ConnectWiseSettings

    settings = server.settings()
    psa = ConnectWise(
        ConnectWiseSettings(
            url=settings["CONNECTWISE_URL"],
            company_id=settings["CONNECTWISE_COMPANY_ID"],
            public_key=settings["CONNECTWISE_PUBLIC_KEY"],
            private_key=settings["CONNECTWISE_PRIVATE_KEY"],
            client_id=settings["CONNECTWISE_CLIENT_ID"],
        )
    )
    companies = {company.id: company.name for company in psa.list_companies()}
    agreement = next(agreement for agreement in psa.list_agreements() if agreement.id == agreement_id)
    return companies[agreement.company_id]


def test_make_run_offers_the_psa_stand_ins_agreements_and_items_to_map(
    demo_run: DemoRun, browser_page
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    log_in(page, demo_run.url, RESELLER_ADMIN_EMAIL, DEMO_PASSWORD)
    page.goto(f"{demo_run.url}/reseller/psa/mapping")

    expect(page.get_by_role("heading", name="PSA mapping")).to_be_visible()
    for client in DEMO_CLIENTS:
        expect(
            page.locator("#psa-clients select").first.locator("option", has_text=f"{client.name}: ")
        ).to_have_count(1)
    expect(
        page.locator("#psa-products select").first.locator("option", has_text="DESKTOP: Hosted Desktop")
    ).to_have_count(1)
    expect(page.locator("#psa-missing")).to_have_count(0)
