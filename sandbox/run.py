"""``make run``: the sandbox platforms, the demo data, then the portal, worker and beat until Ctrl-C.

Prints only the address, the logins and real problems; every process writes its log under
``instance/logs/`` (the platforms' under ``instance/sandbox/``). Ctrl-C stops everything it started
and exits 0. ``PORT`` (or ``--port``) moves the portal off 5000; ``--instance DIR`` keeps the
database, broker, logs and sandbox in DIR instead of ``instance/`` (the tests run it so).

Once the workers have settled every demo seat, one line says how they ended, and the true-up reads
the platforms once (as it does nightly), so its findings are there on first login.

The application (portal, the engines) is imported only where it is used, after the data setup has
started in its own process: importing it is most of the start-up time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sqlite3
import subprocess  # nosec B404  # starts the sandbox's own processes
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sandbox import sip_client
from sandbox.platforms import PROJECT_ROOT, Sandbox, start_sandbox
from sandbox.ports import LOOPBACK, stop_process
from sandbox.supervisor import Interrupted, Supervisor, interrupts_raise, read_procfile

DEFAULT_INSTANCE = PROJECT_ROOT / "instance"
READY_TIMEOUT = 120.0


def _flask(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "flask"), "--app", "wsgi", *args]


def instance_environment(instance: Path) -> dict[str, str]:
    """Settings that keep the database, broker and beat schedule in ``instance`` (unless set already)."""
    env = {
        "DATABASE_URL": f"sqlite:///{instance / 'seatmeter.sqlite'}",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{instance / 'broker.sqlite'}",
        "CELERY_BEAT_SCHEDULE": str(instance / "celerybeat-schedule"),
    }
    if instance != DEFAULT_INSTANCE:
        # The portal keeps a generated key in instance/ only for its default instance folder.
        env["SECRET_KEY"] = secrets.token_urlsafe(32)
    return {name: value for name, value in env.items() if not os.environ.get(name)}


def start_data_setup(env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    """Migrations and demo data (``sandbox.setup_data``), output in logs/setup.log; started, not awaited."""
    with (log_dir / "setup.log").open("ab") as log:
        return subprocess.Popen(  # nosec B603  # fixed argument list, no shell
            [sys.executable, "-m", "sandbox.setup_data"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=PROJECT_ROOT,
        )


def finish_data_setup(setup: subprocess.Popen[bytes], log_dir: Path) -> None:
    """Wait for :func:`start_data_setup`; SystemExit with the end of its log if it failed."""
    status = setup.wait()
    if status != 0:
        output = (log_dir / "setup.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"Loading the demo data failed (status {status}):\n{output}")


def wait_for_login_page(url: str, supervisor: Supervisor) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        ended = supervisor.exited()
        if ended is not None:
            raise SystemExit(f"The {ended[0]} process stopped during start-up:\n{supervisor.tail(ended[0])}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(f"{url}/login", timeout=2) as response,  # nosec B310  # the portal's own http:// URL on 127.0.0.1
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"The portal did not answer on {url}/login within {READY_TIMEOUT:.0f} s; see its logs")


class Softphones:
    """Registers a softphone for every extension on the sandbox Kamailio, as a person's desk phone would."""

    def __init__(self, sandbox: Sandbox, log_dir: Path) -> None:
        self.kamailio = sandbox.kamailio
        self.registered: set[tuple[str, str]] = set()
        self.log = log_dir / "softphones.log"

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


class DemoSeats:
    """Watches the demo's seats until the workers have settled every one, then says how they ended."""

    def __init__(self, env: dict[str, str], instance: Path) -> None:
        from portal import create_app

        overrides = {name: env[name] for name in ("DATABASE_URL", "SECRET_KEY") if env.get(name)}
        self.app = create_app({**overrides, "CELERY_BROKER_URL": "memory://", "INSTANCE_PATH": str(instance)})
        self.reported = False

    def summary(self) -> str | None:
        """One line once no wanted seat is on its way any more (None before)."""
        from sqlalchemy import select

        from portal.db import db
        from portal.orders.models import DesiredState, Seat, SeatState

        settled = {SeatState.ACTIVE, SeatState.SUSPENDED, SeatState.FAILED}
        with self.app.app_context():
            wanted = select(Seat).where(Seat.desired_state != DesiredState.TERMINATED)
            seats = list(db.session.scalars(wanted))
            if not seats or any(seat.state not in settled for seat in seats):
                return None
            active = sum(seat.state is SeatState.ACTIVE for seat in seats)
            failed = [seat for seat in seats if seat.state is SeatState.FAILED]
            line = f"Demo seats: {active} of {len(seats)} active"
            for seat in failed:
                who = seat.end_user.name if seat.end_user else "nobody"
                line += f"; failed as the demo intends: {seat.product.name} for {who}: {seat.last_error}"
            return line

    def close(self) -> None:
        self.app.extensions["seatmeter.db"].engine.dispose()


def run_trueup(env: dict[str, str], log_dir: Path) -> None:
    """The nightly true-up, once now: what the platforms have and nobody bills shows up at first login."""
    with (log_dir / "setup.log").open("ab") as log:
        command = _flask("trueup", "run")
        status = subprocess.run(  # nosec B603  # fixed argument list, no shell
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT, check=False
        ).returncode
    if status != 0:
        print(f"The true-up could not read the sandbox platforms (status {status}); see {log_dir}/setup.log")


def _banner(url: str, sandbox: Sandbox, seconds: float, log_dir: Path) -> str:
    from portal.demo.services import DEMO_PASSWORD, demo_logins

    kamailio = sandbox.kamailio
    voip = f"Kamailio on udp:{LOOPBACK}:{kamailio.port}" if kamailio else "Kamailio's tables only"
    lines = [
        f"Seatmeter is running at {url}  (login page ready in {seconds:.1f} s; Ctrl-C stops everything)",
        f"Sandbox platforms on {LOOPBACK}: AWS WorkSpaces (moto_server), WorkMail stand-in, "
        f"Stripe (localstripe), ConnectWise PSA stand-in, {voip}.",
        *sandbox.notes,
        f"Log in with the password {DEMO_PASSWORD} (no two-step login in the sandbox) as:",
        *(f"  {login.email:<30} {login.role}" for login in demo_logins()),
        f"Logs: {log_dir}/",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seatmeter with sandbox platforms and demo data")
    parser.add_argument("--port", default=os.environ.get("PORT") or "5000")
    parser.add_argument("--instance", type=Path, default=DEFAULT_INSTANCE)
    options = parser.parse_args(argv)
    started = time.monotonic()
    url = f"http://{LOOPBACK}:{options.port}"
    instance: Path = options.instance.resolve()
    log_dir = instance / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    sandbox: Sandbox | None = None
    supervisor: Supervisor | None = None
    seats: DemoSeats | None = None
    setup: subprocess.Popen[bytes] | None = None
    with interrupts_raise():
        try:
            base_env = {
                **os.environ,
                **instance_environment(instance),
                "PORT": options.port,
                "PUBLIC_URL": url,
                "FLASK_DEBUG": "0",
                # The Procfile names flask and celery: this interpreter's, as under `make run`.
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            }
            # The data needs no platform: it loads while the sandbox starts.
            setup = start_data_setup(base_env, log_dir)
            ran_before = (instance / "sandbox").exists()
            sandbox = start_sandbox(instance / "sandbox", url)
            if ran_before:
                sandbox.notes.append(
                    "The sandbox platforms start empty each run, but this database keeps the seats an "
                    f"earlier run made: the true-up will find them missing. Delete {instance} to start over."
                )
            env = {**base_env, **sandbox.env}
            finish_data_setup(setup, log_dir)
            supervisor = Supervisor(read_procfile(PROJECT_ROOT / "Procfile"), env, log_dir, PROJECT_ROOT)
            supervisor.start()
            wait_for_login_page(url, supervisor)
            print(_banner(url, sandbox, time.monotonic() - started, log_dir), flush=True)
            phones = Softphones(sandbox, log_dir)
            seats = DemoSeats(env, instance)
            next_check = 0.0
            while True:
                ended = supervisor.exited()
                if ended is not None:
                    name, status = ended
                    print(f"The {name} process stopped by itself (status {status}); the end of its log:")
                    print(supervisor.tail(name))
                    return 1
                if time.monotonic() >= next_check:
                    if not seats.reported and (summary := seats.summary()) is not None:
                        seats.reported = True
                        print(f"{summary} ({time.monotonic() - started:.0f} s after start)", flush=True)
                        run_trueup(env, log_dir)
                    for address in phones.register_new():
                        print(f"A sandbox softphone registered as {address}.", flush=True)
                    next_check = time.monotonic() + 2
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
            if setup is not None and setup.poll() is None:
                stop_process(setup)
            if seats is not None:
                seats.close()


if __name__ == "__main__":
    sys.exit(main())
