"""The reseller closes last month from the bill review page in a real browser, with a real worker.

The portal runs as its own processes (``flask run`` and a Celery worker on the default queue) on a
scratch database with three clients and nobody has closed the month yet. Pressing "Close <month>"
queues ``metering.close_month``; the page follows the run (close.js) until it shows the outcome and
the drafts.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from metering.periods import BillingPeriod
from portal.accounts.models import Role
from portal.db import utcnow
from tests.browser.conftest import (
    ARTIFACTS,
    _portal_environment,
    _set_up_database,
    fill_business,
    log_in,
    running_portal,
)
from tests.conftest import TEST_PASSWORD, ScratchDatabases
from tests.portal.reseller.world import UTC_ZONE
from tests.standins.aws import MotoServer
from tests.standins.ports import LOOPBACK, free_port

pytestmark = pytest.mark.slow

RESELLER_EMAIL = "sam@northwind-it.example"


@dataclass(frozen=True)
class ClosePortal:
    url: str
    period: BillingPeriod


@pytest.fixture(scope="module")
def close_portal(
    chromium: Path, scratch_databases: ScratchDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClosePortal]:
    work = tmp_path_factory.mktemp("close-portal")
    port = free_port()
    queue = f"close-{secrets.token_hex(4)}"
    # Nothing provisions here, so no AWS endpoint is ever called.
    unused_aws = MotoServer(endpoint_url=f"http://{LOOPBACK}:9")
    env = _portal_environment(
        scratch_databases.create_migrated("close"),
        os.environ.get("CELERY_BROKER_URL") or f"sqla+sqlite:///{work / 'broker.sqlite'}",
        queue,
        unused_aws,
        "d-0000000000",
        work,
        port,
    )
    period = BillingPeriod.containing(utcnow(), UTC_ZONE).previous()
    _set_up_database(env, work)
    # Staff, not an administrator: closing the month is the billing clerk's work.
    fill_business(env, work, period, (RESELLER_EMAIL, "Sam Clerk", Role.RESELLER_STAFF))
    # metering's tasks go to the default queue ("seatmeter"), which no other test's worker consumes.
    with running_portal(env, work, f"{queue},seatmeter"):
        yield ClosePortal(url=f"http://{LOOPBACK}:{port}", period=period)


def close_month_from_the_review(page, base_url: str, period: BillingPeriod):
    """Press "Close <month>" on the month's review page (no bills yet) and wait, without reloading,
    until the page shows the close has ended; the progress panel is returned."""
    from playwright.sync_api import expect

    month = period.label
    page.goto(f"{base_url}/reseller/review/{period}")
    expect(page.get_by_text(f"No bills for {month}.")).to_be_visible()
    page.get_by_role("button", name=f"Close {month}").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Closing {month} in the background")
    # The worker closes the month; the page follows it and shows the outcome without a manual reload.
    panel = page.locator("#close-month")
    expect(panel).to_contain_text(f"{month} is closed:", timeout=60_000)
    return panel


def test_staff_close_the_month_and_watch_it_finish(close_portal: ClosePortal, browser_page) -> None:
    from playwright.sync_api import expect

    page = browser_page
    month = close_portal.period.label
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, close_portal.url, RESELLER_EMAIL, TEST_PASSWORD)
    panel = close_month_from_the_review(page, close_portal.url, close_portal.period)
    expect(panel).to_contain_text(f"{month} is closed: 3 of 3 clients went through.")
    expect(panel).to_contain_text("3 drafts created")
    expect(panel).to_contain_text(f"Started by {RESELLER_EMAIL}")
    expect(page.locator('[data-client="acme"]')).to_contain_text("draft")
    expect(page.get_by_role("button", name="Approve all 3 drafts")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "reseller-close.png"), full_page=True)
    assert errors == []
