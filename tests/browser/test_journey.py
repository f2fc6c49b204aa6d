"""Issue 13's journey in one browser session on a 390 px wide phone: the reseller closes last month
from the review page, watches it finish and approves the bills; the e-mails "bills ready" and
"invoice issued" arrive at a real SMTP server (aiosmtpd). Then a client administrator removes a user,
resets a phone's SIP password (the Kamailio registrar refuses the old one and takes the new one) and
reads the invoice. Every page loaded is measured, and checked by axe-core (conftest.browser_page).

The portal runs as its own processes (``flask run`` and one Celery worker for provisioning, the close
and the notices) on a scratch database holding the reseller's world of tests/portal/reseller.
The pieces are the other browser tests' helpers, composed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from metering.periods import BillingPeriod
from portal.accounts.models import Role
from portal.db import utcnow
from tests.browser.conftest import (
    ADMIN_EMAIL,
    PHONE,
    Portal,
    _portal_environment,
    _set_up_database,
    fill_business,
    log_in,
    measure_page_widths,
    running_portal,
)
from tests.browser.test_client_phone import _order_a_phone, reset_phone_password
from tests.browser.test_people import invite_user, remove_user_by_keyboard
from tests.browser.test_reseller_close import close_month_from_the_review
from tests.conftest import TEST_PASSWORD, ScratchDatabases
from tests.portal.notices.conftest import Mailbox
from tests.portal.reseller.world import UTC_ZONE
from tests.standins.aws import MotoServer
from tests.standins.kamailio import Kamailio
from tests.standins.ports import LOOPBACK, free_port

pytestmark = pytest.mark.slow

RESELLER_EMAIL = "ada@northwind-it.example"


@dataclass(frozen=True)
class JourneyPortal:
    portal: Portal
    period: BillingPeriod
    mailbox: Mailbox
    phone_seat_id: int


@pytest.fixture(scope="module")
def journey_portal(
    chromium: Path,
    scratch_databases: ScratchDatabases,
    kamailio: Kamailio,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JourneyPortal]:
    work = tmp_path_factory.mktemp("journey-portal")
    port = free_port()
    queue = f"journey-{secrets.token_hex(4)}"
    database_url = scratch_databases.create_migrated("journey")
    # Only a phone seat is provisioned here, so no AWS endpoint is ever called.
    unused_aws = MotoServer(endpoint_url=f"http://{LOOPBACK}:9")
    env = _portal_environment(
        database_url,
        # A broker of its own: the close and the notices use the default queue, which no other test's
        # worker may take from this portal.
        f"sqla+sqlite:///{work / 'broker.sqlite'}",
        queue,
        unused_aws,
        "d-0000000000",
        work,
        port,
    )
    mailbox = Mailbox()
    smtp_port = free_port()
    env.update(
        PROVISIONING_ADAPTERS="desktop=workspaces,mailbox=none,voip=kamailio",
        KAMAILIO_DB_URL=kamailio.db_url,
        SIP_DOMAIN=kamailio.domain,
        SIP_SERVER=f"{kamailio.host}:{kamailio.port}",
        MAIL_SERVER=LOOPBACK,
        MAIL_PORT=str(smtp_port),
    )
    period = BillingPeriod.containing(utcnow(), UTC_ZONE).previous()
    _set_up_database(env, work)
    fill_business(env, work, period, (RESELLER_EMAIL, "Ada Lovelace", Role.RESELLER_ADMIN))
    # Ordered before the worker starts: it sets the phone up while the reseller closes the month.
    seat_id = _order_a_phone(env, work)
    smtp = Controller(mailbox, hostname=LOOPBACK, port=smtp_port)
    smtp.start()
    try:
        with running_portal(env, work, f"{queue},seatmeter") as url:
            portal = Portal(
                url=url,
                admin_email=ADMIN_EMAIL,
                admin_password=TEST_PASSWORD,
                database_url=database_url,
                log_dir=work,
            )
            yield JourneyPortal(portal=portal, period=period, mailbox=mailbox, phone_seat_id=seat_id)
    finally:
        smtp.stop()


def _wait_for_mail(journey: JourneyPortal, to: str, subject_starts: str, timeout: float = 60) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in journey.mailbox.to(to):
            if str(message["Subject"]).startswith(subject_starts):
                return message
        time.sleep(0.3)
    received = [(m["To"], m["Subject"]) for m in journey.mailbox.messages]
    raise AssertionError(f"no “{subject_starts}…” to {to}; received {received}\n{journey.portal.logs()}")


def test_the_month_and_a_client_admins_errands_in_a_browser_on_a_phone(
    journey_portal: JourneyPortal, browser_page, kamailio: Kamailio
) -> None:
    from playwright.sync_api import expect

    journey, page = journey_portal, browser_page
    url, month = journey.portal.url, journey.period.label
    widths = measure_page_widths(page.context)
    page.set_viewport_size(PHONE)

    # The reseller closes the month from the review page, watches it finish, and approves.
    log_in(page, url, RESELLER_EMAIL, TEST_PASSWORD)
    panel = close_month_from_the_review(page, url, journey.period)
    expect(panel).to_contain_text(f"{month} is closed: 3 of 3 clients went through.")
    ready = _wait_for_mail(journey, RESELLER_EMAIL, f"Bills for {month} are ready for review")
    text = ready.get_body(preferencelist=("plain",))
    assert text is not None and "3 draft bills wait for your review" in text.get_content()
    page.get_by_role("button", name="Approve all 3 drafts").click()
    expect(page.locator(".flash-success")).to_contain_text(f"3 bills of {month} approved and finalized.")

    # Acme has no billing address: its administrator gets the invoice, with the PDF.
    issued = _wait_for_mail(journey, ADMIN_EMAIL, "Invoice ")
    assert str(journey.period) in issued["Subject"]
    [pdf] = [part for part in issued.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert pdf.get_content().startswith(b"%PDF")

    # The client administrator: a user removed, a phone password reset, the invoice read.
    page.context.clear_cookies()
    log_in(page, url, ADMIN_EMAIL, TEST_PASSWORD)
    expect(page.get_by_role("heading", name="Acme Law LLP")).to_be_visible()
    invite_user(page, url, "Pat Doe", "pat@acme.example")
    remove_user_by_keyboard(page, "Pat Doe", "pat@acme.example")
    reset_phone_password(page, journey.portal, journey.phone_seat_id, kamailio)

    page.goto(f"{url}/billing/")
    row = page.locator("#invoices tbody tr").first
    expect(row).to_contain_text(month)
    row.get_by_role("link").first.click()
    expect(page.locator("#invoice-document")).to_contain_text("Acme Law LLP")
    expect(page.locator("#per-person")).to_contain_text("Carol Cruz")

    visited = {path.split("?")[0] for path in widths.widths}
    assert {
        f"/reseller/review/{journey.period}",
        "/client/users",
        f"/client/seats/{journey.phone_seat_id}",
        "/billing/",
    } <= visited, visited
    assert widths.wider_than(PHONE["width"]) == []
