"""What ``/readyz`` checks: the database answers, the broker answers, the schema is at head.

Each check gets a few seconds at most and reports a short plain reason, never a URL or a
password. The database is reached through an engine of its own (no pool, a connect timeout), so
a probe neither waits behind busy requests for a pooled connection nor keeps one open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from kombu import Connection
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from portal.cli import alembic_config

CHECK_TIMEOUT_SECONDS = 3
_ENGINE_KEY = "seatmeter.readiness_engine"
_HEADS_KEY = "seatmeter.migration_heads"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _probe_engine(app: Flask) -> Engine:
    engine: Engine | None = app.extensions.get(_ENGINE_KEY)
    if engine is None:
        url: str = app.config["DATABASE_URL"]
        connect_args: dict[str, Any] = (
            {"timeout": CHECK_TIMEOUT_SECONDS}
            if url.startswith("sqlite")
            else {"connect_timeout": CHECK_TIMEOUT_SECONDS}
        )
        # No "BEGIN IMMEDIATE" hook here, unlike the application's SQLite engine: a read-only
        # probe must not queue for SQLite's write lock behind a long close.
        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        app.extensions[_ENGINE_KEY] = engine
    return engine


def _code_heads(app: Flask) -> frozenset[str]:
    """The migration heads this code ships, read once per process (the files do not change)."""
    heads: frozenset[str] | None = app.extensions.get(_HEADS_KEY)
    if heads is None:
        script = ScriptDirectory.from_config(alembic_config(app.config["DATABASE_URL"]))
        heads = frozenset(script.get_heads())
        app.extensions[_HEADS_KEY] = heads
    return heads


def _database_checks(app: Flask) -> list[Check]:
    try:
        with _probe_engine(app).connect() as connection:
            connection.execute(text("SELECT 1"))
            applied = frozenset(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        reason = f"cannot reach the database ({type(getattr(error, 'orig', None) or error).__name__})"
        return [Check("database", False, reason), Check("migrations", False, "unknown: no database")]
    database = Check("database", True, "ok")
    expected = _code_heads(app)
    if applied == expected:
        return [database, Check("migrations", True, "ok")]
    have = ", ".join(sorted(applied)) or "none"
    want = ", ".join(sorted(expected))
    return [database, Check("migrations", False, f"database at {have}, code at {want}: run db upgrade")]


def _broker_check(app: Flask) -> Check:
    url: str = app.config["CELERY_BROKER_URL"]
    try:
        with Connection(url, connect_timeout=CHECK_TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # any transport's own error type: the broker is not usable
        return Check("broker", False, f"cannot reach the broker ({type(error).__name__})")
    return Check("broker", True, "ok")


def readiness(app: Flask) -> list[Check]:
    """Every check, in a fixed order; the caller answers 200 when all are ``ok``, else 503."""
    return [*_database_checks(app), _broker_check(app)]
