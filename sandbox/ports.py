"""Small process/port helpers shared by the stand-in fixtures (aws, stripe, workmail, kamailio).

Keep this module small and its signatures stable: other fixture modules import it.
"""

from __future__ import annotations

import os
import socket
import subprocess  # nosec B404  # starts the sandbox's own processes
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The kernel picks it (bind to port 0).  There is a small race until the caller's server binds it,
    which is acceptable for tests and far better than fixed ports when sessions run in parallel.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until something accepts TCP connections on host:port; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.1f}s") from exc
            time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate proc, escalate to SIGKILL after 10 s, and always reap it (no zombies, no leaks)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


def start_server(
    argv: Sequence[str],
    port: int,
    log_path: Path,
    *,
    timeout: float = 20.0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start argv with stdout+stderr in log_path and wait until it listens on 127.0.0.1:port.

    On failure (early exit or timeout) the process is stopped and RuntimeError carries the log, so
    the reason shows up in the pytest report instead of a bare "connection refused" later on.
    """
    log = log_path.open("wb")
    try:
        proc = subprocess.Popen(  # nosec B603  # fixed argument list, no shell
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=dict(os.environ if env is None else env),
        )
    finally:
        log.close()  # the child keeps its own descriptor
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            problem = f"exited with code {proc.returncode} before listening"
            break
        try:
            wait_for_port(LOOPBACK, port, 0.2)
            return proc
        except TimeoutError:
            if time.monotonic() >= deadline:
                problem = f"not listening on {LOOPBACK}:{port} after {timeout:.1f}s"
                break
    stop_process(proc)
    output = log_path.read_text(errors="replace")
    raise RuntimeError(f"{' '.join(argv)}: {problem}\n--- {log_path} ---\n{output}")
