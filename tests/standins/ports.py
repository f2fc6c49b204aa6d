"""The process and port helpers live in ``sandbox.ports`` (``make run`` starts the sandbox with them).

``sandbox_server`` is the one way the stand-in plugins run a ``sandbox`` module for a session.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from sandbox.ports import LOOPBACK, free_port, start_server, stop_process, wait_for_port

REPO_ROOT = Path(__file__).resolve().parents[2]

__all__ = ["LOOPBACK", "free_port", "sandbox_server", "start_server", "stop_process", "wait_for_port"]


@contextmanager
def sandbox_server(
    tmp_path_factory: pytest.TempPathFactory, module: str, log_name: str, args: Sequence[str] = ()
) -> Iterator[str]:
    """Run ``python -m <module> --port N <args>`` on 127.0.0.1 and yield its base URL.

    A server that does not come up fails the test with its log (not an error deep in a fixture);
    the process is stopped and reaped however the block ends.
    """
    port = free_port()
    log = tmp_path_factory.mktemp(log_name) / f"{log_name}.log"
    argv = [sys.executable, "-m", module, "--port", str(port), *args]
    try:
        proc = start_server(argv, port, log, cwd=REPO_ROOT)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        stop_process(proc)
