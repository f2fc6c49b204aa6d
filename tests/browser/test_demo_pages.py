"""First login on `make run`'s demo: every page of both consoles shows something, and nothing errs.

The portal is the session's ``demo_run`` (``python -m sandbox.run``, tests/sandbox/demo_run.py): the
sandbox platforms, the demo's year of history and its seats settled by the worker. For each login the
test opens every link of the main navigation in Chromium and checks the page's main content, then
fetches every further link those pages show (one step deeper, as that user) and checks none fails.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urlsplit

import pytest

from portal.demo.services import DEMO_CLIENTS, DEMO_PASSWORD, RESELLER_ADMIN_EMAIL
from tests.browser.conftest import log_in
from tests.sandbox.demo_run import DemoRun

pytestmark = pytest.mark.slow

ERROR_WORDS = re.compile(r"Internal Server Error|Something went wrong|Traceback|Bad Request|Not found", re.I)
# Links that change something or leave the console: never followed.
SKIPPED_PATHS = re.compile(r"/logout|/login")


def _main_text(page: object) -> str:
    return str(page.locator("main").inner_text()).strip()  # type: ignore[attr-defined]


def _visit_console(page: object, run: DemoRun, email: str) -> dict[str, str]:
    """Log in as ``email``; open every main-navigation page. Returns {path: main text}."""
    log_in(page, run.url, email, DEMO_PASSWORD)
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert "/login" not in urlsplit(page.url).path, _main_text(page)  # type: ignore[attr-defined]
    # The platforms are make run's stand-ins, and the console says so on every page.
    assert page.locator("header .sandbox-label").inner_text().strip().lower() == "sandbox"  # type: ignore[attr-defined]
    nav = page.locator("header nav a").evaluate_all("links => links.map(link => link.href)")  # type: ignore[attr-defined]
    assert len(nav) >= 4
    texts: dict[str, str] = {}
    deeper: set[str] = set()
    for href in nav:
        response = page.goto(href)  # type: ignore[attr-defined]
        path = urlsplit(href).path
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        text = _main_text(page)
        assert page.locator("main h1").count() >= 1, f"{path} has no heading"  # type: ignore[attr-defined]
        # More than a heading and an empty-state sentence: the page shows the demo's data.
        assert len(text) > 80, f"{path} shows almost nothing: {text!r}"
        assert not ERROR_WORDS.search(text), f"{path}: {text[:500]}"
        texts[path] = text
        links = page.locator("main a[href]").evaluate_all("links => links.map(link => link.href)")  # type: ignore[attr-defined]
        deeper.update(urldefrag(link)[0] for link in links)
    for href in sorted(deeper):
        parts = urlsplit(href)
        if parts.netloc != urlsplit(run.url).netloc or SKIPPED_PATHS.search(parts.path):
            continue
        # Fetched with the page's cookies: downloads (CSV, PDF) are checked without saving them.
        response = page.request.get(href)  # type: ignore[attr-defined]
        assert response.status == 200, f"{parts.path}?{parts.query}: {response.status}"
        if response.headers.get("content-type", "").startswith("text/html"):
            assert not ERROR_WORDS.search(re.sub(r"<[^>]+>", " ", response.text())), parts.path
    return texts


def test_reseller_admin_sees_every_console_page_filled(demo_run: DemoRun, browser_page: object) -> None:
    texts = _visit_console(browser_page, demo_run, RESELLER_ADMIN_EMAIL)
    assert len(texts) >= 9, sorted(texts)  # Home, Clients, Bill review, SPLA, Exports, Price book ...
    page = browser_page
    page.goto(f"{demo_run.url}/")  # type: ignore[attr-defined]
    # The demo submitted last month's SPLA report: the home page must not call it overdue.
    assert page.locator("#spla-status .state").inner_text().strip() == "submitted"  # type: ignore[attr-defined]
    assert page.locator("#spla-unfiled").count() == 0  # type: ignore[attr-defined]
    assert page.locator("#overdue-count .figure").inner_text().strip() == "1"  # type: ignore[attr-defined]


@pytest.mark.parametrize("client", DEMO_CLIENTS, ids=[spec.ref for spec in DEMO_CLIENTS])
def test_client_admin_sees_every_console_page_filled(demo_run: DemoRun, browser_page: object, client) -> None:
    texts = _visit_console(browser_page, demo_run, client.admin[1])
    assert len(texts) >= 7, sorted(texts)  # Home, Seats, Order, End users, Orders, Billing, Portal users
    assert any("invoice" in text.lower() for text in texts.values())
