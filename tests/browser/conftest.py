"""The real portal for browser tests: its own database, the web server and a Celery worker as separate
processes, AWS WorkSpaces played by ``moto_server``, and Debian's chromium driven by Playwright.

Nothing here is shared with the in-process ``app`` fixture: the processes get their own scratch
database (SQLite file, or a database on the PostgreSQL server of ``DATABASE_URL``), their own broker
queue, and read their configuration from the environment like a production install.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from portal import create_app
from portal.accounts.models import Role
from portal.accounts.services import create_client, create_user_with_password, ensure_reseller
from portal.audit.services import Actor
from portal.catalog.services import seed_catalog
from portal.db import db
from tests.conftest import TEST_PASSWORD, ScratchDatabases
from tests.standins.aws import DUMMY_KEY_ID, DUMMY_SECRET, REGION, MotoServer, make_workspaces_directory
from tests.standins.ports import LOOPBACK, free_port, start_server, stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_EMAIL = "grace@acme.example"


def _missing(reason: str) -> None:
    # CI installs chromium (.ci/system-packages); there a missing browser is a failure, not a skip.
    if os.environ.get("SEATMETER_REQUIRE_STANDINS"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _bin(name: str) -> str:
    # The console scripts of the interpreter running pytest, not whatever is first on PATH.
    return str(Path(sys.executable).parent / name)


@dataclass(frozen=True)
class Portal:
    url: str
    admin_email: str
    admin_password: str
    database_url: str
    log_dir: Path

    def logs(self) -> str:
        """The end of the web server's and the worker's logs, to read when a step did not happen."""
        parts = []
        for name in ("web.log", "worker.log"):
            text = (self.log_dir / name).read_text(errors="replace")
            parts.append(f"--- {name} (last 4000 characters) ---\n{text[-4000:]}")
        return "\n".join(parts)


def _portal_environment(
    database_url: str, broker_url: str, queue: str, moto: MotoServer, directory_id: str, work: Path, port: int
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "WORKSPACES_", "WORKMAIL_", "KAMAILIO_", "PROVISIONING_", "STRIPE_"))
    }
    env.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        SECRET_KEY=secrets.token_urlsafe(32),
        PUBLIC_URL=f"http://{LOOPBACK}:{port}",
        BILLING_TIMEZONE="UTC",
        MAIL_SERVER="",
        # Its own queue: other tests on the same Redis never feed this worker seats it does not know.
        PROVISIONING_QUEUE=queue,
        PROVISIONING_ADAPTERS="desktop=workspaces,mailbox=none,voip=none",
        WORKSPACES_ENDPOINT_URL=moto.endpoint_url,
        WORKSPACES_DIRECTORY_ID=directory_id,
        WORKSPACES_BUNDLE_ID="wsb-browsertest",
        AWS_ENDPOINT_URL=moto.endpoint_url,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID=DUMMY_KEY_ID,
        AWS_SECRET_ACCESS_KEY=DUMMY_SECRET,
        AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
        KAMAILIO_DB_URL=f"sqlite:///{work / 'kamailio.sqlite'}",
        FLASK_DEBUG="0",
        PYTHONUNBUFFERED="1",
        # The journeys here log in with a password; two-step login has its own tests.
        TWO_FACTOR_REQUIRED_ROLES="none",
    )
    return env


def _set_up_database(env: dict[str, str], work: Path) -> None:
    """Catalog, a client and its administrator on a migrated database: what an operator does before
    the first login."""
    app = create_app(
        {
            "DATABASE_URL": env["DATABASE_URL"],
            "SECRET_KEY": env["SECRET_KEY"],
            "CELERY_BROKER_URL": "memory://",
            "INSTANCE_PATH": str(work / "setup-instance"),
        }
    )
    with app.app_context():
        actor = Actor.system("browser test setup")
        ensure_reseller("Browser Test MSP")
        seed_catalog(actor)
        acme = create_client(actor, "acme", "Acme Law LLP")
        create_user_with_password(actor, ADMIN_EMAIL, "Grace Hopper", Role.CLIENT_ADMIN, acme, TEST_PASSWORD)
        db.session.commit()
    app.extensions["seatmeter.db"].engine.dispose()


def _start_worker(env: dict[str, str], queue: str, log_path: Path) -> subprocess.Popen[bytes]:
    """Start the worker without waiting for it; :func:`_wait_until_ready` does that."""
    argv = [
        _bin("celery"),
        "-A",
        "portal.worker:celery",
        "worker",
        "--queues",
        queue,
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--hostname",
        f"{queue}@%h",
    ]
    with log_path.open("wb") as log:
        # A session of its own, so that stopping it can reach its pool processes too.
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env, start_new_session=True
        )


def _wait_until_ready(proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Celery worker exited:\n{log_path.read_text(errors='replace')}")
        if " ready." in log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    _stop_worker(proc)
    raise RuntimeError(f"the Celery worker did not start:\n{log_path.read_text(errors='replace')}")


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """Cold shutdown (SIGQUIT), then the whole process group: pool children must not outlive it.

    The test is over and nothing is in flight; a polite shutdown would wait seconds for the pool.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def running_portal(env: dict[str, str], work: Path, queues: str) -> Iterator[str]:
    """``flask run`` and a Celery worker on ``queues`` (comma-separated) for ``env``; yields the URL."""
    port = int(env["PUBLIC_URL"].rsplit(":", 1)[1])
    # The worker starts while the web server does; both take a few seconds to import everything.
    worker = _start_worker(env, queues, work / "worker.log")
    try:
        web = start_server(
            [_bin("flask"), "--app", "wsgi", "run", "--host", LOOPBACK, "--port", str(port), "--no-reload"],
            port,
            work / "web.log",
            cwd=REPO_ROOT,
            env=env,
            timeout=30,
        )
    except BaseException:
        _stop_worker(worker)
        raise
    try:
        _wait_until_ready(worker, work / "worker.log")
        yield env["PUBLIC_URL"]
    finally:
        _stop_worker(worker)
        stop_process(web)


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Checked before anything is started: without a browser there is nothing to test."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/system-packages does it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    return CHROMIUM


@pytest.fixture(scope="module")
def portal(
    chromium: Path,
    scratch_databases: ScratchDatabases,
    moto_server: MotoServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Portal]:
    work = tmp_path_factory.mktemp("portal")
    queue = f"browser-{secrets.token_hex(4)}"
    broker = os.environ.get("CELERY_BROKER_URL") or f"sqla+sqlite:///{work / 'broker.sqlite'}"
    database_url = scratch_databases.create_migrated("browser")
    port = free_port()
    directory_id = make_workspaces_directory(moto_server.endpoint_url)
    env = _portal_environment(database_url, broker, queue, moto_server, directory_id, work, port)

    _set_up_database(env, work)

    with running_portal(env, work, queue):
        yield Portal(
            url=f"http://{LOOPBACK}:{port}",
            admin_email=ADMIN_EMAIL,
            admin_password=TEST_PASSWORD,
            database_url=database_url,
            log_dir=work,
        )


# axe-core, vendored (tests/browser/axe/README.md says where from). Every HTML page a browser test
# opens is checked once it has loaded; the serious and critical violations fail the test.
AXE_SCRIPT = Path(__file__).resolve().parent / "axe" / "axe.min.js"
AXE_VERSION = "4.14.1"
# What each page found is kept in the tab's sessionStorage, which outlives the page. axe-core does
# most of its work before the page answers the next click; the test's own goto and reload wait for
# the check (AxeFindings.wait). A page left before its check ended anyway stays "started" and is
# reported as not checked.
CHECK_EACH_PAGE_WITH_AXE = """
(() => {
  if (window !== window.top) return;
  const KEY = "seatmeter-axe";
  const page = location.pathname + location.search;
  const save = (entry) => {
    const all = JSON.parse(sessionStorage.getItem(KEY) || "[]");
    all.push(entry);
    sessionStorage.setItem(KEY, JSON.stringify(all));
  };
  window.addEventListener("load", () => {
    if (document.contentType !== "text/html" || typeof axe === "undefined") return;
    save({ page, started: true });
    window.__axeDone = axe
      .run(document, { resultTypes: ["violations"] })
      .then((results) => results.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id} (${v.impact}): ${v.help}; at ` +
                    v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")))
      .catch((error) => [`axe failed: ${error}`])
      .then((failing) => save({ page, failing }));
  });
})();
"""
WAIT_FOR_THE_CHECK = """
async () => {
  if (document.readyState !== "complete") {
    await new Promise((loaded) => window.addEventListener("load", loaded, { once: true }));
  }
  await window.__axeDone;
}
"""
COLLECT_AXE_FINDINGS = """
() => {
  const all = JSON.parse(sessionStorage.getItem("seatmeter-axe") || "[]");
  sessionStorage.removeItem("seatmeter-axe");
  return all;
}
"""


class AxeFindings:
    """What axe-core found on the pages of one browser context: ``{page: [violation, ...]}``."""

    def __init__(self) -> None:
        self.by_page: dict[str, list[str]] = {}
        self.unchecked: list[str] = []

    def wait(self, page: object) -> None:
        """Let the check of the page ``page`` shows finish (before the test leaves it)."""
        with contextlib.suppress(Exception):  # a page closed or not loaded yet has nothing to wait for
            # A click just before may have started a page that has not loaded (nor started its check).
            page.wait_for_load_state("load")  # type: ignore[attr-defined]
            page.evaluate(WAIT_FOR_THE_CHECK)  # type: ignore[attr-defined]

    def collect(self, page: object) -> None:
        """Wait for the page's check, then keep what every page of the tab found."""
        self.wait(page)
        entries = page.evaluate(COLLECT_AXE_FINDINGS)  # type: ignore[attr-defined]
        started = [entry["page"] for entry in entries if entry.get("started")]
        for entry in entries:
            if "failing" not in entry:
                continue
            started.remove(entry["page"])
            if entry["failing"]:
                found = self.by_page.setdefault(entry["page"], [])
                found += [violation for violation in entry["failing"] if violation not in found]
        self.unchecked += started

    def __str__(self) -> str:
        lines = [f"{page}:\n  " + "\n  ".join(found) for page, found in self.by_page.items()]
        if self.unchecked:
            lines.append(f"left before axe-core finished: {', '.join(self.unchecked)}")
        return "\n".join(lines)


def check_pages_with_axe(context: object, page: object) -> AxeFindings:
    """Run axe-core on every page ``context`` loads from now on; ``page``'s goto and reload wait for
    the check of the page they leave. ``collect`` at the end."""
    findings = AxeFindings()
    context.add_init_script(path=str(AXE_SCRIPT))  # type: ignore[attr-defined]
    context.add_init_script(CHECK_EACH_PAGE_WITH_AXE)  # type: ignore[attr-defined]
    for name in ("goto", "reload"):
        leave = getattr(page, name)

        def after_the_check(*args: object, _leave: Any = leave, **kwargs: object) -> object:
            findings.wait(page)
            return _leave(*args, **kwargs)

        setattr(page, name, after_the_check)
    return findings


@contextlib.contextmanager
def browser_context(chromium: Path) -> Iterator[object]:
    """A fresh chromium profile (Debian's chromium; Playwright downloads nothing)."""
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="seatmeter-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


def first_page(context: object) -> object:
    return context.pages[0] if context.pages else context.new_page()  # type: ignore[attr-defined]


@pytest.fixture
def browser_page(chromium: Path) -> Iterator[object]:
    """A page of a fresh chromium profile.

    Every page it opens is checked by axe-core; serious or critical violations fail the test.
    """
    with browser_context(chromium) as context:
        page = first_page(context)
        findings = check_pages_with_axe(context, page)
        yield page
        findings.collect(page)
    if findings.by_page or findings.unchecked:
        pytest.fail(
            f"axe-core {AXE_VERSION} found serious or critical violations:\n{findings}", pytrace=False
        )


# Every Content-Security-Policy violation the browser reports, from the first paint on.
RECORD_POLICY_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def policy_violations(page: object, base_url: str, paths: list[str]) -> list[str]:
    """Open each page (logged in already) and collect what the policy blocked on it.

    ``page`` needs RECORD_POLICY_VIOLATIONS as an init script of its context.
    """
    violations = []
    for path in paths:
        response = page.goto(f"{base_url}{path}")  # type: ignore[attr-defined]
        assert response is not None and response.status == 200, path
        assert "unsafe-inline" not in response.headers["content-security-policy"], path
        page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
        violations += [f"{path}: {text}" for text in page.evaluate("window.__violations")]  # type: ignore[attr-defined]
    return violations


PHONE = {"width": 390, "height": 844}


def wider_than_a_phone(page: object, base_url: str, paths: list[str]) -> list[str]:
    """Open each page (logged in already) on a 390 px wide screen; the pages a person would have to
    scroll sideways to read, with how wide they are."""
    page.set_viewport_size(PHONE)  # type: ignore[attr-defined]
    too_wide = []
    for path in paths:
        response = page.goto(f"{base_url}{path}")  # type: ignore[attr-defined]
        assert response is not None and response.status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        if width > PHONE["width"]:
            too_wide.append(f"{path}: {width} px")
    return too_wide


MEASURE_EACH_PAGE = """
(() => {
  if (window !== window.top) return;
  window.addEventListener("load", () => {
    if (document.contentType !== "text/html") return;
    window.__reportWidth(location.pathname + location.search, document.documentElement.scrollWidth);
  });
})();
"""


class PageWidths:
    """How wide each page a browser context loaded was (its scroll width once loaded)."""

    def __init__(self) -> None:
        self.widths: dict[str, int] = {}

    def report(self, _source: object, page: str, width: int) -> None:
        self.widths[page] = max(width, self.widths.get(page, 0))

    def wider_than(self, limit: int) -> list[str]:
        return [f"{page}: {width} px" for page, width in self.widths.items() if width > limit]


def measure_page_widths(context: object) -> PageWidths:
    """Measure every page ``context`` loads from now on."""
    widths = PageWidths()
    context.expose_binding("__reportWidth", widths.report)  # type: ignore[attr-defined]
    context.add_init_script(MEASURE_EACH_PAGE)  # type: ignore[attr-defined]
    return widths


def log_in(page: object, base_url: str, email: str, password: str) -> None:
    """Log in through the login form, as a person would (callers check where they land)."""
    page.goto(f"{base_url}/login")  # type: ignore[attr-defined]
    page.get_by_label("E-mail", exact=True).fill(email)  # type: ignore[attr-defined]
    page.get_by_label("Password", exact=True).fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]


def fill_business(env: dict[str, str], work: Path, period: object, reseller: tuple[str, str, Role]) -> None:
    """Three clients with seats and ledger intervals over the months up to ``period`` (the reseller
    world of tests/portal/reseller), and one reseller user ``(e-mail, name, role)``."""
    from tests.portal.reseller.world import SETUP, build_business

    app = create_app(
        {
            "DATABASE_URL": env["DATABASE_URL"],
            "SECRET_KEY": env["SECRET_KEY"],
            "CELERY_BROKER_URL": "memory://",
            "INSTANCE_PATH": str(work / "fill-instance"),
        }
    )
    email, name, role = reseller
    with app.app_context():
        build_business(period)  # type: ignore[arg-type]
        create_user_with_password(SETUP, email, name, role, None, TEST_PASSWORD)
        db.session.commit()
    app.extensions["seatmeter.db"].engine.dispose()
