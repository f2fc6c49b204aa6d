"""A client administrator in a real browser: orders 3 desktops, assigns one to a new end user, and
watches the seat become active on a page that is never reloaded."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ARTIFACTS, Portal, log_in

pytestmark = pytest.mark.slow

# Collects every state label a seat shows in this document, from the first paint on.
RECORD_STATES = """
window.__seatStates = {};
document.addEventListener("DOMContentLoaded", () => {
  const record = (block) => {
    const label = block.querySelector('[data-part="label"]').textContent.trim();
    const seen = (window.__seatStates[block.dataset.seatId] ||= []);
    if (seen[seen.length - 1] !== label) seen.push(label);
  };
  document.querySelectorAll(".seat-status").forEach((block) => {
    record(block);
    const changes = {subtree: true, childList: true, characterData: true};
    new MutationObserver(() => record(block)).observe(block, changes);
  });
});
"""


def test_client_admin_orders_desktops_and_sees_an_assigned_one_become_active(portal: Portal, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    page.context.add_init_script(RECORD_STATES)

    log_in(page, portal.url, portal.admin_email, portal.admin_password)
    expect(page.get_by_role("heading", name="Acme Law LLP")).to_be_visible()
    nav = page.locator("header nav")

    # A new end user.
    nav.get_by_role("link", name="End users", exact=True).click()
    page.get_by_label("Name", exact=True).fill("Nina New")
    page.get_by_label("E-mail or UPN").fill("nina@acme.example")
    page.get_by_role("button", name="Add end user").click()
    expect(page.get_by_text("Nina New is added.")).to_be_visible()

    # Order 3 desktops, checking the price on the confirmation first.
    nav.get_by_role("link", name="Order", exact=True).click()
    page.locator("#product-desktop").get_by_role("link", name="Order", exact=True).click()
    page.get_by_label("Number of seats").fill("3")
    page.get_by_role("button", name="Review the order").click()
    expect(page.locator("#unit-price")).to_have_text("$39.00")
    expect(page.locator("#total-all")).to_have_text("$117.00")
    page.get_by_role("button", name="Place the order").click()
    expect(page.get_by_text(re.compile(r"Order #\d+ is placed: 3 Hosted Desktop seats"))).to_be_visible()
    seats = page.locator(".seat-status")
    expect(seats).to_have_count(3)
    expect(seats.first.locator('[data-part="label"]')).to_have_text("Ordered")
    seat_id = seats.first.get_attribute("data-seat-id")
    page.evaluate("window.__sameDocument = true")

    # Assign the first seat to Nina in another tab; the order page stays open and is not reloaded.
    other_tab = page.context.new_page()
    other_tab.goto(f"{portal.url}/client/seats/{seat_id}")
    other_tab.get_by_label("Person").select_option(label="Nina New <nina@acme.example>")
    other_tab.get_by_role("button", name="Assign").click()
    expect(other_tab.get_by_text(f"Seat #{seat_id} is assigned to Nina New.")).to_be_visible()

    first = page.locator(f'.seat-status[data-seat-id="{seat_id}"]')
    try:
        expect(first.locator('[data-part="label"]')).to_have_text("Active", timeout=90_000)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{portal.logs()}") from None
    expect(page.locator(f'[data-seat-person="{seat_id}"]')).to_contain_text("Nina New")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    seen = page.evaluate(f"window.__seatStates['{seat_id}']")
    assert seen[0] == "Ordered"
    assert seen[-1] == "Active"
    for other in seats.all()[1:]:
        expect(other.locator('[data-part="label"]')).to_have_text("Ordered")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "client-order-desktops.png"), full_page=True)

    # The dashboard now counts Nina's desktop in this month's cost.
    nav.get_by_role("link", name="Home", exact=True).click()
    expect(page.locator("#month-so-far")).to_contain_text("$39.00")
    page.screenshot(path=str(ARTIFACTS / "client-dashboard.png"), full_page=True)


def test_the_client_pages_break_no_rule_of_the_content_security_policy(portal: Portal, browser_page):
    from playwright.sync_api import expect

    from tests.browser.conftest import RECORD_POLICY_VIOLATIONS, policy_violations

    page = browser_page
    page.context.add_init_script(RECORD_POLICY_VIOLATIONS)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    log_in(page, portal.url, portal.admin_email, portal.admin_password)
    expect(page.get_by_role("heading", name="Acme Law LLP")).to_be_visible()

    paths = ["/client/", "/client/seats/", "/client/catalog", "/client/end-users/", "/client/orders"]
    assert policy_violations(page, portal.url, paths) == []
    assert [text for text in console if "Content Security Policy" in text] == []


def test_the_client_pages_fit_a_phone_and_mark_where_you_are(portal: Portal, browser_page):
    from playwright.sync_api import expect

    from tests.browser.conftest import wider_than_a_phone

    page = browser_page
    log_in(page, portal.url, portal.admin_email, portal.admin_password)
    expect(page.get_by_role("heading", name="Acme Law LLP")).to_be_visible()

    paths = [
        "/client/",
        "/client/seats/",
        "/client/catalog",
        "/client/end-users/",
        "/client/orders",
        "/billing/",
        "/account/notices",
    ]
    assert wider_than_a_phone(page, portal.url, paths) == []
    page.goto(f"{portal.url}/client/end-users/")
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("End users")
