"""A real Celery worker process (with embedded beat) on a committed scratch database, for tests.

The ``app`` fixture's rolled-back transaction is invisible to another process, so worker tests get
their own migrated database. The broker is Redis when CELERY_BROKER_URL is set (the PostgreSQL
run), else an SQLite broker file; the queue name is unique per session so that messages queued by
other tests on the same Redis database never reach this worker.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from flask import Flask
from sqlalchemy.exc import OperationalError

from portal import create_app
from portal.config import load_config
from portal.db import db
from tests.conftest import TEST_SECRET_KEY, ScratchDatabases
from tests.standins.aws import DUMMY_KEY_ID, DUMMY_SECRET, REGION

T = TypeVar("T")
READY_TIMEOUT = 40.0
# Short enough to heal within a test: a claim lapses after 3 s, the sweep runs every second and
# re-queues a seat 2 s overdue, retries start at 1 s.
FAST_SETTINGS = {
    "PROVISIONING_LEASE_SECONDS": "3",
    "PROVISIONING_SWEEP_INTERVAL": "1",
    "PROVISIONING_SWEEP_SECONDS": "2",
    "PROVISIONING_RETRY_BASE_SECONDS": "1",
    "PROVISIONING_MAX_ATTEMPTS": "5",
    # On Redis, a killed worker's embedded beat keeps the beat lock this long; the next one waits.
    "BEAT_LOCK_SECONDS": "3",
}


def broker_url(tmp_dir: Path) -> str:
    return os.environ.get("CELERY_BROKER_URL") or f"sqla+sqlite:///{tmp_dir / 'broker.sqlite'}"


def settings_env(
    database_url: str,
    tmp_dir: Path,
    *,
    moto_url: str,
    directory_id: str,
    workmail_url: str,
    organization_id: str,
    mail_domain: str,
    kamailio_db_url: str,
    sip_domain: str,
    queue: str,
) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url(tmp_dir),
        "SECRET_KEY": TEST_SECRET_KEY,
        "PROVISIONING_QUEUE": queue,
        "WORKSPACES_DIRECTORY_ID": directory_id,
        "WORKSPACES_BUNDLE_ID": "wsb-12345678",
        "WORKSPACES_ENDPOINT_URL": moto_url,
        "WORKMAIL_ORGANIZATION_ID": organization_id,
        "WORKMAIL_MAIL_DOMAIN": mail_domain,
        "WORKMAIL_ENDPOINT_URL": workmail_url,
        "KAMAILIO_DB_URL": kamailio_db_url,
        "SIP_DOMAIN": sip_domain,
        "AWS_REGION": REGION,
        **FAST_SETTINGS,
    }


def aws_env() -> dict[str, str]:
    """Dummy credentials, and no developer profile or retry settings leaking in."""
    return {
        "AWS_ACCESS_KEY_ID": DUMMY_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }


@dataclass
class Worker:
    """``celery -A portal.worker:celery worker -B`` in its own process group."""

    env: dict[str, str]
    workdir: Path
    concurrency: int = 4
    proc: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def start(self) -> None:
        celery = Path(sys.executable).parent / "celery"
        log = self.workdir / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "PROVISIONING_", "WORKSPACES_", "WORKMAIL_", "KAMAILIO_"))
        }
        env.update(aws_env())
        env.update(self.env)
        argv = [
            str(celery),
            "-A",
            "portal.worker:celery",
            "worker",
            "--beat",
            "--schedule",
            str(self.workdir / "beat-schedule"),
            "--pool",
            "prefork",
            "--concurrency",
            str(self.concurrency),
            "--queues",
            self.env["PROVISIONING_QUEUE"],
            "--hostname",
            f"seatmeter-test-{secrets.token_hex(3)}@%h",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
        ]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=Path(__file__).resolve().parents[2],
                start_new_session=True,  # its own group: SIGKILL reaches the pool children too
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while b" ready." not in log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                output = log.read_text(errors="replace")
                self.kill()
                raise RuntimeError(f"celery worker did not start\n{output[-4000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes, as a crashed host would."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=3)
        self.kill()

    def log(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in self.logs)


def migrated_database(scratch_databases: ScratchDatabases, label: str) -> str:
    return scratch_databases.create_migrated(label)


def producer_app(env: dict[str, str], instance: Path) -> Flask:
    """The portal side of the worker tests: same database, broker, queue and settings."""
    app = create_app({**env, "INSTANCE_PATH": str(instance), "TESTING": True})
    # create_app applies string overrides verbatim after validating them; take the parsed values.
    app.config.update(load_config({**os.environ, **env}, instance))
    return app


def committed(app: Flask, work: Callable[[], T]) -> T:
    """Run ``work`` as one committed transaction, like a request; queued jobs go out after commit.

    On SQLite a transaction that read before it wrote fails at once ("database is locked") when
    the worker committed in between; like a person pressing the button again, it is redone.
    """
    for attempt in range(1, 7):
        with app.app_context():
            try:
                result = work()
                db.session.commit()
                return result
            except OperationalError:
                db.session.rollback()
                if attempt == 6:
                    raise
        time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, worker: Worker | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            detail = f"\n--- worker log ---\n{worker.log()}" if worker else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(0.1)
