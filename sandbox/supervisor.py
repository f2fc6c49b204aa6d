"""Runs the processes of a Procfile until Ctrl-C, then stops every one of them and exits 0.

What honcho did for `make run`, minus two things a newcomer tripped over: honcho ends with a non-zero
status on Ctrl-C (and make then prints ``Error 130``), and it interleaves every banner of every
process on the terminal. Here each process writes to its own log file, and each runs in a process
group of its own, so stopping it also stops what it started (Celery's pool processes).

A process that exits on its own is a real problem: the others are stopped, the end of its log is
printed, and the status is 1.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess  # nosec B404  # starts the sandbox's own processes
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

STOP_TIMEOUT = 10.0
_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: str


def read_procfile(path: Path) -> list[ProcessSpec]:
    """``name: command`` lines; blank lines and ``#`` comments are skipped."""
    specs = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line.strip())
        if match is None:
            raise ValueError(f"{path}: cannot read the line {line!r} (expected name: command)")
        specs.append(ProcessSpec(match.group(1), match.group(2)))
    return specs


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived."""


class Supervisor:
    def __init__(self, specs: list[ProcessSpec], env: Mapping[str, str], log_dir: Path, cwd: Path) -> None:
        self.specs = specs
        self.env = dict(env)
        self.log_dir = log_dir
        self.cwd = cwd
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.specs:
            with self.log_path(spec.name).open("ab") as log:
                # The shell expands ${VAR:-default} as honcho did; exec leaves one process to signal.
                self.running[spec.name] = subprocess.Popen(  # nosec B603  # fixed argument list, no shell
                    ["/bin/sh", "-c", f"exec {spec.command}"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                )

    def exited(self) -> tuple[str, int] | None:
        """The first process that ended by itself, with its status."""
        for name, proc in self.running.items():
            status = proc.poll()
            if status is not None:
                return name, status
        return None

    def stop(self) -> None:
        """SIGTERM every process group, wait, then SIGKILL whatever is left of each group."""
        self.stopping = True
        for proc in self.running.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self.running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.running.values():
            # Also the group's other members: a pool child may outlive its parent.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def tail(self, name: str, characters: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path(name).read_text(errors="replace")[-characters:]
        return ""


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise :class:`Interrupted` (once; the handlers then reset)."""
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for_interrupt_or_exit(supervisor: Supervisor, poll: float = 0.2) -> int:
    """Block until Ctrl-C (status 0) or until a process exits by itself (status 1), then stop all."""
    try:
        while True:
            ended = supervisor.exited()
            if ended is not None:
                name, status = ended
                # Ignore further Ctrl-C while cleaning up: a second one must not leave orphans.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                supervisor.stop()
                print(f"The {name} process stopped by itself (status {status}); the end of its log:")
                print(supervisor.tail(name))
                return 1
            time.sleep(poll)
    except Interrupted:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop()
        return 0


def run_procfile(procfile: Path, env: Mapping[str, str], log_dir: Path, cwd: Path) -> int:
    """Start the Procfile's processes and supervise them until Ctrl-C; the exit status to use."""
    supervisor = Supervisor(read_procfile(procfile), env, log_dir, cwd)
    with interrupts_raise():
        try:
            supervisor.start()
        except Interrupted:
            supervisor.stop()
            return 0
        return wait_for_interrupt_or_exit(supervisor)


def main(argv: list[str]) -> int:
    """``python -m sandbox.supervisor PROCFILE LOG_DIR``: the Procfile's processes until Ctrl-C."""
    if len(argv) != 2:
        print("usage: python -m sandbox.supervisor PROCFILE LOG_DIR", file=sys.stderr)
        return 2
    procfile, log_dir = Path(argv[0]), Path(argv[1])
    return run_procfile(procfile, os.environ, log_dir, procfile.resolve().parent)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
