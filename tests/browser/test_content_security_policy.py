"""The Content-Security-Policy blocks nothing the portal's own pages need, in a real browser."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Portal

pytestmark = pytest.mark.slow

# Every violation the browser reports, from the first paint on.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def test_the_client_pages_break_no_rule_of_the_policy(portal: Portal, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    page.context.add_init_script(RECORD_VIOLATIONS)
    console = []
    page.on("console", lambda message: console.append(message.text))

    page.goto(f"{portal.url}/login")
    page.get_by_label("E-mail", exact=True).fill(portal.admin_email)
    page.get_by_label("Password", exact=True).fill(portal.admin_password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Acme Law LLP")).to_be_visible()

    violations = []
    for path in ("/client/", "/client/seats/", "/client/catalog", "/client/end-users/", "/client/orders"):
        response = page.goto(f"{portal.url}{path}")
        assert response is not None and response.status == 200, path
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        violations += [f"{path}: {text}" for text in page.evaluate("window.__violations")]

    assert violations == []
    assert [text for text in console if "Content Security Policy" in text] == []
