"""``make run``: the sandbox platforms, the demo data, then the portal, worker and beat until Ctrl-C.

Prints only the address, the logins and real problems; every process writes its log under
``instance/logs/`` (the platforms' under ``instance/sandbox/``). Ctrl-C stops everything it started
and exits 0. ``PORT`` moves the portal off 5000.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sandbox import sip_client
from sandbox.platforms import PROJECT_ROOT, Sandbox, start_sandbox
from sandbox.ports import LOOPBACK
from sandbox.supervisor import Interrupted, Supervisor, interrupts_raise, read_procfile

INSTANCE = PROJECT_ROOT / "instance"
LOG_DIR = INSTANCE / "logs"
READY_TIMEOUT = 120.0
SETUP_STEPS = (("db", "upgrade"), ("catalog", "seed"), ("demo",))


def _flask(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "flask"), "--app", "wsgi", *args]


def set_up_data(env: dict[str, str]) -> None:
    """Migrations, catalog and demo data, output in instance/logs/setup.log; SystemExit if one fails."""
    log_path = LOG_DIR / "setup.log"
    with log_path.open("ab") as log:
        for step in SETUP_STEPS:
            status = subprocess.run(
                _flask(*step), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT, check=False
            ).returncode
            if status != 0:
                output = log_path.read_text(errors="replace")[-3000:]
                raise SystemExit(f"`flask {' '.join(step)}` failed (status {status}):\n{output}")


def wait_for_login_page(url: str, supervisor: Supervisor) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        ended = supervisor.exited()
        if ended is not None:
            raise SystemExit(f"The {ended[0]} process stopped during start-up:\n{supervisor.tail(ended[0])}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(f"{url}/login", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"The portal did not answer on {url}/login within {READY_TIMEOUT:.0f} s; see {LOG_DIR}")


class Softphones:
    """Registers a softphone for every extension on the sandbox Kamailio, as a person's desk phone would."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.kamailio = sandbox.kamailio
        self.registered: set[tuple[str, str]] = set()
        self.log = LOG_DIR / "softphones.log"

    def register_new(self) -> list[str]:
        if self.kamailio is None:
            return []
        with contextlib.closing(sqlite3.connect(self.kamailio.db_path, timeout=5.0)) as con:
            rows = con.execute("SELECT username, domain, password FROM subscriber").fetchall()
        newly = []
        for username, domain, password in rows:
            if (username, domain) in self.registered:
                continue
            try:
                status = sip_client.register(
                    self.kamailio.host, self.kamailio.port, username, domain, password
                )
            except (TimeoutError, OSError) as exc:
                status = 0
                note = f"no answer ({exc})"
            else:
                note = f"SIP {status}"
            with self.log.open("a") as log:
                log.write(f"{time.strftime('%H:%M:%S')} REGISTER {username}@{domain}: {note}\n")
            if status == 200:
                self.registered.add((username, domain))
                newly.append(f"{username}@{domain}")
        return newly


def _banner(url: str, sandbox: Sandbox, seconds: float) -> str:
    from portal.demo.services import DEMO_PASSWORD, demo_logins

    kamailio = sandbox.kamailio
    voip = f"Kamailio on udp:{LOOPBACK}:{kamailio.port}" if kamailio else "Kamailio's tables only"
    lines = [
        f"Seatmeter is running at {url}  (login page ready in {seconds:.1f} s; Ctrl-C stops everything)",
        f"Sandbox platforms on {LOOPBACK}: AWS WorkSpaces (moto_server), WorkMail stand-in, "
        f"Stripe (localstripe), {voip}.",
        *sandbox.notes,
        f"Log in with the password {DEMO_PASSWORD} as:",
        *(f"  {login.email:<30} {login.role}" for login in demo_logins()),
        f"Logs: {LOG_DIR.relative_to(PROJECT_ROOT)}/",
    ]
    return "\n".join(lines)


def main() -> int:
    started = time.monotonic()
    port = os.environ.get("PORT") or "5000"
    url = f"http://{LOOPBACK}:{port}"
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    sandbox: Sandbox | None = None
    supervisor: Supervisor | None = None
    with interrupts_raise():
        try:
            sandbox = start_sandbox(INSTANCE / "sandbox", url)
            env = {**os.environ, **sandbox.env, "PORT": port, "PUBLIC_URL": url, "FLASK_DEBUG": "0"}
            set_up_data(env)
            supervisor = Supervisor(read_procfile(PROJECT_ROOT / "Procfile"), env, LOG_DIR, PROJECT_ROOT)
            supervisor.start()
            wait_for_login_page(url, supervisor)
            print(_banner(url, sandbox, time.monotonic() - started), flush=True)
            phones = Softphones(sandbox)
            next_phone_check = 0.0
            while True:
                ended = supervisor.exited()
                if ended is not None:
                    name, status = ended
                    print(f"The {name} process stopped by itself (status {status}); the end of its log:")
                    print(supervisor.tail(name))
                    return 1
                if time.monotonic() >= next_phone_check:
                    for address in phones.register_new():
                        print(f"A sandbox softphone registered as {address}.", flush=True)
                    next_phone_check = time.monotonic() + 3
                time.sleep(0.2)
        except Interrupted:
            return 0
        finally:
            # A second Ctrl-C while stopping must not leave processes behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if supervisor is not None:
                supervisor.stop()
            if sandbox is not None:
                sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())
