"""What every bench shares: a scratch PostgreSQL database, the machine line, the history section."""

from __future__ import annotations

import os
import platform
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import URL, create_engine, text

from portal import create_app


def machine() -> str:
    """Host, kernel, CPUs, Python and the load average, so a figure can be read against its machine."""
    load1, load5, load15 = os.getloadavg()
    return (
        f"{platform.node()} · {platform.system()} {platform.release()} · {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()} · load average {load1:.2f} {load5:.2f} {load15:.2f}"
    )


def bench_app(url: str) -> Flask:
    """The portal on url with no broker and no mail: the benches time the database work only."""
    return create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-" + "x" * 20,
            "CELERY_BROKER_URL": "memory://",
            "MAIL_SERVER": "",
        }
    )


@contextmanager
def scratch_database(server: URL, keep: bool) -> Iterator[str]:
    """Create a fresh database on server's PostgreSQL, yield its URL, then drop it (unless keep)."""
    name = f"seatmeter_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            if keep:
                print(f"kept database {name}")
            else:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def publish(title: str, label: str, body: str, history: str | Path | None) -> None:
    """Print a dated section (title, label, then body) and append it to the history file if given."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    section = f"\n### {title} · {stamp} UTC{' · ' + label if label else ''}\n\n{body}\n"
    print(section)
    if history:
        with open(history, "a", encoding="utf-8") as file:
            file.write(section)
