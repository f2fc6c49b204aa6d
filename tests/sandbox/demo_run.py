"""Pytest plugin: ``demo_run``, what `make run` starts (``python -m sandbox.run``), once per session.

It runs with an instance folder of its own and a free port, so it never touches a developer's
``instance/`` or port 5000. With ``DATABASE_URL`` (the PostgreSQL run) it gets a scratch database on
that server; with ``CELERY_BROKER_URL`` (Redis) a queue of its own. Every process it starts inherits
a marker in its environment, which is how :meth:`DemoRun.interrupt` finds any that outlived it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sandbox.ports import free_port
from tests.conftest import ScratchDatabases

REPO_ROOT = Path(__file__).resolve().parents[2]
MARKER_VARIABLE = "SEATMETER_DEMO_RUN_MARKER"
START_TIMEOUT = 180.0
SETTLE_TIMEOUT = 240.0


def processes_with_marker(marker: str) -> list[int]:
    """Live processes (not zombies) whose environment carries ``marker``."""
    needle = f"{MARKER_VARIABLE}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


@dataclass
class DemoRun:
    proc: subprocess.Popen[bytes]
    output_path: Path
    instance: Path
    url: str
    database_url: str
    marker: str
    status: int | None = None
    leftovers: list[int] = field(default_factory=list)

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output(), re.MULTILINE)
            if match:
                return match
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no line matching {pattern!r}; output:\n{self.output()}\n{self.logs()}")
            time.sleep(0.2)

    def logs(self) -> str:
        parts = []
        for path in sorted((self.instance / "logs").glob("*.log")):
            parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def interrupt(self) -> tuple[int, list[int]]:
        """Ctrl-C as a terminal sends it (to the foreground process group); the exit status and the
        processes still alive afterwards. Only the first call interrupts."""
        if self.status is None:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.status = self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.status = self.proc.wait()
            time.sleep(0.5)
            self.leftovers = processes_with_marker(self.marker)
            for pid in self.leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        return self.status, self.leftovers


@pytest.fixture(scope="session")
def demo_run(
    scratch_databases: ScratchDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoRun]:
    """`make run` on its own instance, started and waited for until every demo seat has settled."""
    instance = tmp_path_factory.mktemp("demo-run")
    port = free_port()
    marker = secrets.token_hex(8)
    queue = f"demo-{marker}"
    env = {key: value for key, value in os.environ.items() if key != "PORT"}
    env.update(
        {
            MARKER_VARIABLE: marker,
            "CELERY_QUEUES": queue,
            "PROVISIONING_QUEUE": queue,
            "PYTHONUNBUFFERED": "1",
            "SECRET_KEY": secrets.token_urlsafe(32),
        }
    )
    database_url = f"sqlite:///{instance / 'seatmeter.sqlite'}"
    if scratch_databases.backend == "postgresql":
        database_url = scratch_databases.create("demo_run")
    env["DATABASE_URL"] = database_url
    output_path = instance / "output.txt"
    with output_path.open("wb") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.run", "--instance", str(instance), "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            env=env,
            start_new_session=True,  # its own process group, as a terminal's foreground job has
        )
    run = DemoRun(proc, output_path, instance, f"http://127.0.0.1:{port}", database_url, marker)
    try:
        run.wait_for_line(r"^Seatmeter is running at ", START_TIMEOUT)
        run.wait_for_line(r"^Demo seats: ", SETTLE_TIMEOUT)
        yield run
    finally:
        run.interrupt()
