"""Pytest plugin: a real Kamailio SIP registrar on 127.0.0.1, standing in for the colo's VoIP PBX.

A VoIP seat is a row in Kamailio's own `subscriber` table (username = extension, domain, plain
password; `calculate_ha1` is on so `ha1`/`ha1b` may stay empty). Product code writes that row with
plain SQL; a SIP phone then REGISTERs with digest auth. Facts checked with Kamailio 5.6.3, SQLite
3.40 and SIPp 3.6.1 on Debian 12:

* Kamailio holds no SQLite lock between queries and caches nothing: a row inserted, changed or
  deleted by another process is seen by the very next REGISTER.
* In SQLite's default rollback-journal mode a concurrent writer DOES break Kamailio: while the writer
  holds its lock, Kamailio's read fails at once ("database is locked"; db_sqlite 5.6 sets no busy
  timeout) and the REGISTER is challenged again (401). With a writer looping, most REGISTERs failed.
  In WAL mode readers never wait for writers (0 failures in the same test), so the database is
  created in WAL mode (persistent in the file). Kamailio never blocked an outside writer.
* Suspending a seat: delete the row (auth_check -3, "invalid user", then 401). Never blank the
  password: an empty `password` with calculate_ha1=1 lets a client with an empty password in.
  Deleting the row does not drop bindings already registered (usrloc keeps them until they expire).
* Kamailio's URL for an absolute path is `sqlite:///abs/path` (three slashes), SQLAlchemy's is
  `sqlite:////abs/path` (four); `Kamailio.db_url` is the SQLAlchemy one.
* PostgreSQL schema files live in /usr/share/kamailio/postgres/ (not db_postgres/); the same two
  files apply, and the config template takes `db_postgres.so` plus a `postgres://` URL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess  # nosec B404  # starts the sandbox's own processes
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox import sip_client
from sandbox.ports import stop_process

HOST = "127.0.0.1"
DEFAULT_DOMAIN = "seats.test"  # .test is reserved (RFC 2606): it can never resolve to a real host
APT_PACKAGES = "kamailio kamailio-sqlite-modules kamailio-postgres-modules sip-tester"
INSTALL_HINT = f"apt-get install -y --no-install-recommends {APT_PACKAGES}"
SCHEMA_DIRS = {
    "sqlite": Path("/usr/share/kamailio/db_sqlite"),
    "postgres": Path("/usr/share/kamailio/postgres"),
}
# standard-create.sql makes the `version` table that auth_db checks at start-up; auth_db-create.sql
# makes `subscriber` and registers its version (7). usrloc runs in memory, so nothing else is needed.
SCHEMA_FILES = ("standard-create.sql", "auth_db-create.sql")
TEMPLATE = Path(__file__).with_name("kamailio.cfg.tmpl")
START_TIMEOUT = 15.0


def find_binary(name: str) -> str | None:
    """`name` on PATH, else in the sbin/bin dirs a non-root PATH may lack (kamailio is in /usr/sbin)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        candidate = Path(folder, name)
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def module_dir() -> Path | None:
    """Kamailio's module folder (multiarch path on Debian), if the SQLite module is installed."""
    candidates = [
        *Path("/usr/lib").glob("*/kamailio/modules"),
        Path("/usr/lib64/kamailio/modules"),
        Path("/usr/lib/kamailio/modules"),
        Path("/usr/local/lib64/kamailio/modules"),
    ]
    return next((d for d in candidates if (d / "db_sqlite.so").exists()), None)


def missing_requirements() -> str | None:
    """Why the Kamailio stand-in cannot run here, or None if it can."""
    if find_binary("kamailio") is None:
        return f"kamailio binary not found; CI installs it with: {INSTALL_HINT}"
    if module_dir() is None or not all((SCHEMA_DIRS["sqlite"] / f).exists() for f in SCHEMA_FILES):
        return f"kamailio-sqlite-modules not installed; CI installs it with: {INSTALL_HINT}"
    return None


@dataclass(frozen=True)
class Kamailio:
    """A running Kamailio stand-in. `db_url` is an SQLAlchemy URL of its subscriber database."""

    host: str
    port: int
    domain: str
    db_path: Path
    db_url: str
    log_path: Path | None = None

    def _connect(self) -> contextlib.closing[sqlite3.Connection]:
        # timeout: wait for another writer rather than fail; closing(): sqlite3's own context
        # manager only commits, and an open handle per call would leak file descriptors.
        return contextlib.closing(sqlite3.connect(self.db_path, timeout=5.0))

    def add_subscriber(self, username: str, password: str, domain: str | None = None) -> None:
        """Provision a seat the way the product will: one plain-SQL row write."""
        with self._connect() as con, con:
            con.execute(
                "INSERT INTO subscriber (username, domain, password) VALUES (?, ?, ?)",
                (username, domain or self.domain, password),
            )

    def delete_subscriber(self, username: str, domain: str | None = None) -> int:
        """Suspend/remove a seat; returns the number of rows deleted."""
        with self._connect() as con, con:
            cur = con.execute(
                "DELETE FROM subscriber WHERE username = ? AND domain = ?", (username, domain or self.domain)
            )
            return cur.rowcount

    def clear_subscribers(self) -> None:
        with self._connect() as con, con:
            con.execute("DELETE FROM subscriber")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def create_subscriber_db(db_path: Path) -> None:
    """Create Kamailio's SQLite database with the tables auth_db needs, in WAL mode (see above)."""
    with contextlib.closing(sqlite3.connect(db_path)) as con:
        con.execute("PRAGMA journal_mode=WAL")
        for name in SCHEMA_FILES:
            con.executescript((SCHEMA_DIRS["sqlite"] / name).read_text())
        con.commit()


def render_config(port: int, kamailio_db_url: str, db_module: str = "db_sqlite.so", host: str = HOST) -> str:
    """The config from kamailio.cfg.tmpl. Placeholders are @NAME@ because `$` is Kamailio syntax."""
    mpath = module_dir()
    values = {
        "HOST": host,
        "PORT": str(port),
        "MPATH": f"{mpath}/",
        "DB_MODULE": db_module,
        "DB_URL": kamailio_db_url,
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def _free_udp_port() -> int:
    # ports.free_port() probes TCP; a port free for TCP need not be free for UDP, so probe UDP.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def stop_kamailio(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the main process (it stops its workers), wait, then sweep the process group.

    The group sweep only matters if the main process had to be SIGKILLed: its workers would
    otherwise live on as orphans holding the UDP port and the database open."""
    stop_process(proc)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float) -> str | None:
    """Poll with OPTIONS until Kamailio answers 200; None when ready, else what went wrong."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with code {proc.returncode} during start-up"
        try:
            if sip_client.options(HOST, port, timeout=0.5) == 200:
                return None
        except (TimeoutError, OSError):  # not listening yet (ICMP refused) or still loading
            pass
        time.sleep(0.05)
    return f"no answer to SIP OPTIONS on udp:{HOST}:{port} within {timeout:.0f}s"


def start_kamailio(
    workdir: Path, domain: str = DEFAULT_DOMAIN, timeout: float = START_TIMEOUT
) -> tuple[subprocess.Popen[bytes], Kamailio]:
    """Create the database and config in workdir, start Kamailio in the foreground, wait for it."""
    kamailio_bin = find_binary("kamailio")
    if kamailio_bin is None:
        raise FileNotFoundError(f"kamailio not installed ({INSTALL_HINT})")
    db_path = workdir / "kamailio.sqlite"
    create_subscriber_db(db_path)
    rundir = workdir / "run"
    rundir.mkdir(exist_ok=True)
    log_path = workdir / "kamailio.log"
    problem = ""
    # Retry with a new port: another process may grab the probed port before Kamailio binds it.
    for _attempt in range(3):
        port = _free_udp_port()
        cfg = workdir / "kamailio.cfg"
        cfg.write_text(render_config(port, f"sqlite://{db_path}"))
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # nosec B603  # fixed argument list, no shell
                [kamailio_bin, "-DD", "-E", "-f", str(cfg), "-Y", str(rundir), "-m", "64", "-M", "8"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=workdir,
                start_new_session=True,  # own process group, so stop_kamailio can sweep workers
            )
        problem = _wait_ready(proc, port, timeout) or ""
        if not problem:
            info = Kamailio(HOST, port, domain, db_path, f"sqlite:///{db_path}", log_path)
            return proc, info
        stop_kamailio(proc)
        if "Address already in use" not in log_path.read_text(errors="replace"):
            break
    output = log_path.read_text(errors="replace")
    raise RuntimeError(f"kamailio did not start: {problem}\n--- {log_path} ---\n{output}")
