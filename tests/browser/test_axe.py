"""The axe-core check every browser test gets (conftest.browser_page) really finds what it must fail
on: a page with a serious and a critical violation, served to chromium without any network."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import browser_context, check_pages_with_axe, first_page

pytestmark = pytest.mark.slow

INACCESSIBLE = """<!doctype html>
<html lang="en"><head><title>Inaccessible</title></head>
<body><main>
  <h1>Inaccessible</h1>
  <p><a href="/good-again">Next</a></p>
  <p style="color: #bbb; background: #fff">Grey on white.</p>
  <form><input type="text" name="unlabelled"></form>
  <!-- Enough to check that a test moving on at once would cut the check short. -->
  {filler}
</main></body></html>
"""
INACCESSIBLE = INACCESSIBLE.replace("{filler}", "<p>Some words.</p>" * 3000)
ACCESSIBLE = INACCESSIBLE.replace("#bbb", "#333").replace(
    '<input type="text" name="unlabelled">', '<label>Name <input type="text" name="name"></label>'
)


def _serve(route) -> None:
    url = route.request.url
    route.fulfill(content_type="text/html", body=INACCESSIBLE if "/bad" in url else ACCESSIBLE)


def test_axe_reports_serious_and_critical_violations_of_each_page_loaded(chromium: Path) -> None:
    with browser_context(chromium) as context:
        # Served by the context: no request leaves chromium.
        context.route("http://pages.test/**", _serve)  # type: ignore[attr-defined]
        page = first_page(context)
        findings = check_pages_with_axe(context, page)
        # The test moves on at once, as the browser tests do: the check of /bad still completes.
        page.goto("http://pages.test/good")  # type: ignore[attr-defined]
        page.goto("http://pages.test/bad")  # type: ignore[attr-defined]
        page.get_by_role("link", name="Next").click()  # type: ignore[attr-defined]
        page.wait_for_url("**/good-again")  # type: ignore[attr-defined]
        findings.collect(page)

    assert list(findings.by_page) == ["/bad"] and findings.unchecked == []
    found = "\n".join(findings.by_page["/bad"])
    assert "color-contrast (serious)" in found
    assert "label (critical)" in found
