"""`make run`'s supervisor: Ctrl-C ends every process it started, grandchildren included, with status 0."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox.supervisor import ProcessSpec, read_procfile

REPO_ROOT = Path(__file__).resolve().parents[2]
# A process that runs five minutes unless stopped; the marker after it names it in /proc.
SLEEPER = f'{sys.executable} -c "import time; time.sleep(300)"'


def _processes_with(marker: str) -> list[int]:
    """Process ids whose command line contains ``marker`` (zombies excluded: they hold nothing)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _start(tmp_path: Path, procfile_text: str) -> subprocess.Popen[bytes]:
    procfile = tmp_path / "Procfile"
    procfile.write_text(procfile_text)
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox.supervisor", str(procfile), str(tmp_path / "logs")],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(condition: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_ctrl_c_exits_0_and_leaves_no_process(tmp_path: Path) -> None:
    marker = f"seatmeter-supervisor-test-{secrets.token_hex(4)}"
    # `worker` starts a grandchild in the background, as Celery starts its pool processes.
    supervisor = _start(
        tmp_path,
        f"web: {SLEEPER} {marker}-web\nworker: sh -c '{SLEEPER} {marker}-pool & {SLEEPER} {marker}-worker'\n",
    )
    try:
        _wait_for(lambda: len(_processes_with(marker)) >= 3)
        supervisor.send_signal(signal.SIGINT)
        output, _ = supervisor.communicate(timeout=20)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    assert supervisor.returncode == 0, output
    assert _processes_with(marker) == []


def test_a_process_that_stops_by_itself_stops_the_rest_with_status_1(tmp_path: Path) -> None:
    marker = f"seatmeter-supervisor-test-{secrets.token_hex(4)}"
    supervisor = _start(
        tmp_path,
        f"web: {SLEEPER} {marker}-web\nbroken: sh -c \"echo 'cannot reach the broker' >&2; exit 3\"\n",
    )
    output, _ = supervisor.communicate(timeout=30)
    assert supervisor.returncode == 1
    assert b"The broken process stopped by itself (status 3)" in output
    assert b"cannot reach the broker" in output
    assert _processes_with(marker) == []


def test_procfile_lines(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("# the portal\nweb: flask run --port ${PORT:-5000}\n\nbeat: celery beat\n")
    assert read_procfile(procfile) == [
        ProcessSpec("web", "flask run --port ${PORT:-5000}"),
        ProcessSpec("beat", "celery beat"),
    ]
    assert os.path.exists(REPO_ROOT / "Procfile")
    assert [spec.name for spec in read_procfile(REPO_ROOT / "Procfile")] == ["web", "worker", "beat"]
