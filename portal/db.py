"""Database kernel: declarative base, UTC timestamps, and one session per unit of work.

Services call ``db.session`` and only ``flush()``; the edge (end of a request, a Celery task or a
CLI command) commits. Work that must only happen once the data is durable (enqueueing a job,
sending an e-mail) is registered with :func:`after_commit` and runs after the commit succeeds,
or never, if the transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC on every backend.

    SQLite has no timezone type and hands back naive values; this type refuses naive input (the
    classic source of off-by-hours billing bugs) and always returns aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column; attach a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so SAVEPOINTs work (pysqlite otherwise issues
        # its own BEGIN/COMMIT behind our back), and turn on what SQLite leaves off by default.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front. A deferred transaction that reads and then
        # writes fails at once with "database is locked" when another writer got in between
        # (busy_timeout cannot help there); waiting for the lock at BEGIN always succeeds.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def build_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


_AFTER_COMMIT_KEY = "seatmeter_after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's current transaction commits (dropped on rollback)."""
    # Begin the transaction now if needed, so that a rollback before any SQL also drops it.
    session.connection()
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


def _install_after_commit_hooks(factory: sessionmaker[Session]) -> None:
    @event.listens_for(factory, "after_commit")
    def _run_callbacks(session: Session) -> None:
        callbacks = session.info.pop(_AFTER_COMMIT_KEY, [])
        for callback in callbacks:
            callback()

    @event.listens_for(factory, "after_transaction_end")
    def _drop_callbacks(session: Session, transaction: SessionTransaction) -> None:
        # Reached after a commit too, when the callbacks have already run and been removed.
        if transaction.parent is None:
            session.info.pop(_AFTER_COMMIT_KEY, None)


class Database:
    """Flask extension holding the engine and handing out one session per app context."""

    engine: Engine
    sessionmaker: sessionmaker[Session]

    def init_app(self, app: Flask) -> None:
        self.engine = build_engine(app.config["DATABASE_URL"])
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
        _install_after_commit_hooks(self.sessionmaker)
        app.extensions["seatmeter.db"] = self
        app.teardown_appcontext(_close_session)

    def bind_to(self, connection: Connection) -> None:
        """Route every session through ``connection`` and turn their commits into savepoints.

        Used by the test suite: each test runs inside one outer transaction that is rolled back.
        """
        self.sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")


def _extension() -> Database:
    return current_app.extensions["seatmeter.db"]


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


class _SessionProxy:
    """``db.session`` is the session of the current app context (request, task or command)."""

    @property
    def session(self) -> Session:
        if "db_session" not in g:
            g.db_session = _extension().sessionmaker()
        return g.db_session

    @property
    def engine(self) -> Engine:
        return _extension().engine


db = _SessionProxy()
