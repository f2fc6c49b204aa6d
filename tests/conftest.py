"""Shared fixtures: the Flask tutorial's ``app``/``client``/``runner``, on a database built by the
migrations, with every test inside one transaction that is rolled back (Warehouse's pattern).

Runs on SQLite by default. With ``DATABASE_URL`` pointing at PostgreSQL, a scratch database is
created on that server for the session and dropped at the end; with ``CELERY_BROKER_URL`` set,
Celery uses that broker.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from kombu import Connection
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from werkzeug.routing import Rule

from portal import create_app
from portal.accounts import services as accounts_services
from portal.accounts.models import Client, Role, User
from portal.accounts.services import create_client, create_user_with_password
from portal.audit.services import Actor
from portal.catalog.services import seed_catalog
from portal.cli import alembic_config
from portal.db import build_engine, db

pytest_plugins = [
    "tests.parallel",
    "tests.standins.aws",
    "tests.standins.stripe",
    "tests.standins.quickbooks",
    "tests.standins.connectwise",
    "tests.standins.kamailio",
    "tests.standins.directory",
    "tests.sandbox.demo_run",
]

TEST_PASSWORD = "correct horse battery"
TEST_SECRET_KEY = "test-secret-key-" + "x" * 32


# Set by pytest-xdist in each worker process ("gw0", "gw1", ...); absent in a run without -n.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


class ScratchDatabases:
    """Creates throw-away databases: SQLite files, or databases on the PostgreSQL server.

    Each pytest process (each xdist worker) has its own instance, so its own files and databases;
    PostgreSQL names carry the worker's id so that a leftover one says whose it was.
    """

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self.server_url = os.environ.get("DATABASE_URL") or None
        self.created: list[str] = []
        self._template: str | None = None
        self._sqlite_template: str | None = None

    @property
    def backend(self) -> str:
        return "postgresql" if self.server_url else "sqlite"

    def create(self, label: str, template: str | None = None) -> str:
        if self.server_url is None:
            path = self.tmp_dir / f"{label}.sqlite"
            if template is not None:
                _copy_sqlite(template, path)
            return f"sqlite:///{path}"
        worker = f"{XDIST_WORKER}_" if XDIST_WORKER else ""
        name = f"seatmeter_test_{worker}{label}_{secrets.token_hex(4)}"
        copy = f' TEMPLATE "{make_url(template).database}"' if template is not None else ""
        with self._admin_engine().connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        self.created.append(name)
        url = make_url(self.server_url).set(drivername="postgresql+psycopg", database=name)
        return url.render_as_string(hide_password=False)

    def create_migrated(self, label: str) -> str:
        """A new database at the newest migration: a copy of one this session migrated once.

        Migrating takes seconds and a dozen fixtures need a database of their own; a copy (a file
        copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL) is the same schema and
        Alembic version in a fraction of that. Nothing connects to the template after it is built,
        as PostgreSQL requires of a template.
        """
        if self._template is None:
            template = self.create("template")
            command.upgrade(alembic_config(template), "head")
            self._template = template
        return self.create(label, template=self._template)

    def migrated_sqlite(self, path: Path) -> str:
        """An SQLite database file at ``path`` at the newest migration, on either backend: for the
        tests that run a process on SQLite on purpose. Copied like :meth:`create_migrated`'s."""
        if self._sqlite_template is None:
            if self.backend == "sqlite":
                self._sqlite_template = self.create_migrated("sqlite_template")
            else:
                template = f"sqlite:///{self.tmp_dir / 'sqlite_template.sqlite'}"
                command.upgrade(alembic_config(template), "head")
                self._sqlite_template = template
        _copy_sqlite(self._sqlite_template, path)
        return f"sqlite:///{path}"

    def drop_all(self) -> None:
        """Drops every database at once: each DROP DATABASE waits for a checkpoint of the whole
        server (seconds when it is busy), and PostgreSQL serves requests that wait together with
        one checkpoint."""
        if not self.created:
            return
        admin = self._admin_engine()

        def drop(name: str) -> None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

        with ThreadPoolExecutor(max_workers=min(len(self.created), 8)) as pool:
            list(pool.map(drop, self.created))
        admin.dispose()

    def _admin_engine(self) -> Engine:
        url = make_url(self.server_url or "").set(drivername="postgresql+psycopg")
        return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def _copy_sqlite(source_url: str, target: Path) -> None:
    """SQLite's own backup: a consistent copy whatever journal mode the source was left in."""
    source = sqlite3.connect(make_url(source_url).database or "")
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
    finally:
        destination.close()
        source.close()


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with its cheapest parameters: the default costs about 0.1 s a hash and a login,
    which would be most of the suite's time. Hashes are still argon2id and verify the same way."""
    monkeypatch.setattr(
        accounts_services, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


@pytest.fixture(scope="session", autouse=True)
def _url_builders_compiled_once() -> Iterator[None]:
    """Werkzeug compiles a Python function per URL rule to build its URLs (ast + compile), again
    for every app: about two thirds of ``create_app``, which each test calls. The function depends
    only on the rule's text, its parsed parts and the names of its defaults (not on the app), so
    each is compiled once per process here. A rule whose default fills a part of its path calls its
    converter while compiling, and is compiled as usual."""
    compile_builder = Rule._compile_builder
    compiled: dict[tuple[object, ...], Callable[..., tuple[str, str]]] = {}

    def compile_once(rule: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        defaults = rule.defaults or {}
        if any(dynamic and part in defaults for dynamic, part in rule._trace):
            return compile_builder(rule, append_unknown)
        key = (rule.rule, tuple(rule._trace), tuple(defaults), append_unknown)
        if key not in compiled:
            compiled[key] = compile_builder(rule, append_unknown)
        return compiled[key]

    compile_once.__wrapped__ = compile_builder  # type: ignore[attr-defined]  # tests/test_fixtures.py
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "_compile_builder", compile_once)
        yield


@pytest.fixture(scope="session")
def scratch_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabases]:
    scratch = ScratchDatabases(tmp_path_factory.mktemp("databases"))
    yield scratch
    scratch.drop_all()


@pytest.fixture(scope="session")
def database_url(scratch_databases: ScratchDatabases) -> str:
    return scratch_databases.create_migrated("main")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = build_engine(database_url)
    yield engine
    engine.dispose()


# Jobs that unit tests enqueue (no worker consumes them) go to a queue of this session's own, which
# is emptied at the end, so a real broker is not left holding them.
TEST_QUEUE = f"tests-{secrets.token_hex(4)}"


@pytest.fixture(scope="session", autouse=True)
def _empty_the_test_queue_at_the_end() -> Iterator[None]:
    yield
    broker_url = os.environ.get("CELERY_BROKER_URL")
    if broker_url:
        with Connection(broker_url) as connection:
            connection.default_channel.queue_purge(TEST_QUEUE)


def app_overrides(database_url: str, instance_path: Path) -> dict[str, object]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "INSTANCE_PATH": str(instance_path),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL") or "memory://",
        "CELERY_DEFAULT_QUEUE": TEST_QUEUE,
        "PROVISIONING_QUEUE": TEST_QUEUE,
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "MAIL_SERVER": "",
        # Off unless a test turns them on (tests/portal/web/test_rate_limits.py): a suite that
        # logs in hundreds of times from 127.0.0.1 would otherwise trip them.
        "RATELIMIT_ENABLED": False,
        # Off unless a test turns it on (tests/portal/auth/test_two_factor.py): every test that logs
        # in as the reseller would otherwise first have to set up an authenticator app.
        "TWO_FACTOR_REQUIRED_ROLES": frozenset(),
    }


@pytest.fixture
def app(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(app_overrides(database_url, tmp_path / "instance"))
    connection = engine.connect()
    transaction = connection.begin()
    app.extensions["seatmeter.db"].bind_to(connection)
    with app.app_context():
        yield app
    transaction.rollback()
    connection.close()
    app.extensions["seatmeter.db"].engine.dispose()


@pytest.fixture
def count_queries(engine: Engine):
    """``with count_queries() as statements:`` collects every SQL statement run inside the block."""

    @contextmanager
    def _count() -> Iterator[list[str]]:
        statements: list[str] = []

        def _record(conn, cursor, statement, parameters, context, executemany) -> None:
            if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
                statements.append(statement)

        event.listen(engine, "before_cursor_execute", _record)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", _record)

    return _count


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def catalog(app: Flask) -> None:
    seed_catalog(Actor.system("tests"))
    db.session.commit()


@pytest.fixture
def make_client(app: Flask):
    def _make(ref: str = "acme", name: str | None = None) -> Client:
        client = create_client(Actor.system("tests"), ref, name or ref.title())
        db.session.commit()
        return client

    return _make


@pytest.fixture
def make_user(app: Flask):
    def _make(role: Role, client: Client | None = None, email: str | None = None) -> User:
        email = email or f"{role.value}-{secrets.token_hex(3)}@example.com"
        user = create_user_with_password(
            Actor.system("tests"), email, email.split("@")[0], role, client, TEST_PASSWORD
        )
        db.session.commit()
        return user

    return _make


@pytest.fixture
def login(client: FlaskClient):
    def _login(user: User, password: str = TEST_PASSWORD) -> None:
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, "login failed"

    return _login


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)
