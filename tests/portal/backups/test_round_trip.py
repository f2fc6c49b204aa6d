"""``seatmeter backup`` / ``seatmeter restore`` round trip: an installation with a billed month is backed
up, a new empty installation is restored from the archive, and its pages, its figures and the next
month close come out the same. Runs on SQLite, and on PostgreSQL when DATABASE_URL points there."""

from __future__ import annotations

import re
import sqlite3
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal import create_app
from portal.accounts.models import Role
from portal.accounts.services import create_client, create_user_with_password
from portal.audit.services import Actor
from portal.catalog.services import seed_catalog
from portal.db import db
from tests.conftest import TEST_PASSWORD, ScratchDatabases, app_overrides
from tests.metering.months import Month, event, lines_of

KAMAILIO_SUBSCRIBER = ("alice", "voip.localhost", "sip-secret")


@dataclass
class Installation:
    app: Flask
    instance: Path
    database_url: str


def _open(database_url: str, instance: Path) -> Flask:
    overrides = app_overrides(database_url, instance)
    del overrides["SECRET_KEY"]
    # The key from instance/secret_key (as an SQLite installation keeps it), on PostgreSQL too.
    overrides["SECRET_KEY_FILE"] = str(instance / "secret_key")
    overrides["KAMAILIO_DB_URL"] = f"sqlite:///{instance / 'kamailio.sqlite'}"
    return create_app(overrides)


@pytest.fixture
def installations(scratch_databases: ScratchDatabases, tmp_path: Path) -> Iterator[Any]:
    apps: list[Flask] = []

    def _make(label: str, *, migrate: bool, key: str) -> Installation:
        if migrate:
            database_url = scratch_databases.create_migrated(f"backup_{label}")
        else:
            database_url = scratch_databases.create(f"backup_{label}")
        instance = tmp_path / label
        instance.mkdir()
        (instance / "secret_key").write_text(key)
        app = _open(database_url, instance)
        apps.append(app)
        return Installation(app, instance, database_url)

    yield _make
    for app in apps:
        app.extensions["seatmeter.db"].engine.dispose()


def _seed_a_billed_august(app: Flask) -> None:
    with app.app_context():
        actor = Actor.system("tests")
        seed_catalog(actor)
        acme = create_client(actor, "acme", "Acme")
        create_client(actor, "bright", "Bright")
        create_user_with_password(actor, "boss@acme.example", "Boss", Role.CLIENT_ADMIN, acme, TEST_PASSWORD)
        db.session.commit()
        month = Month()
        month.events(
            event("a1", "acme", "alice@acme.example", "desktop", "start", "2026-08-02T12:00:00Z"),
            event("b1", "acme", "bob@acme.example", "exchange", "start", "2026-08-05T12:00:00Z"),
            event("c1", "bright", "carol@bright.example", "desktop", "start", "2026-08-07T12:00:00Z"),
            event("c2", "bright", "carol@bright.example", "desktop", "stop", "2026-08-20T12:00:00Z"),
            # September's usage is already in when the backup is taken; September is not closed yet.
            event("d1", "bright", "dan@bright.example", "exchange", "start", "2026-09-03T12:00:00Z"),
        )
        month.close("2026-08")
        month.finalize("2026-08")


def _kamailio_subscriber(instance: Path) -> None:
    with sqlite3.connect(instance / "kamailio.sqlite") as connection:
        connection.execute("CREATE TABLE subscriber (username TEXT, domain TEXT, password TEXT)")
        connection.execute("INSERT INTO subscriber VALUES (?, ?, ?)", KAMAILIO_SUBSCRIBER)
    connection.close()


def _figures(app: Flask, period: str) -> list[tuple[str, str, int, list[Any]]]:
    with app.app_context():
        return [
            (invoice["client"], invoice["status"], invoice["total_minor"], lines_of(invoice))
            for invoice in Month().invoices(period)
        ]


def _spla(app: Flask, period: str) -> list[tuple[str | None, str, int]]:
    with app.app_context():
        return Month().spla(period)


def _close_september(app: Flask) -> list[tuple[str, str, int, list[Any]]]:
    with app.app_context():
        Month().close("2026-09")
    return _figures(app, "2026-09")


def _pages(app: Flask) -> dict[str, str]:
    """The client administrator's billing pages, without what differs on every request."""
    browser = app.test_client()
    response = browser.post("/login", data={"email": "boss@acme.example", "password": TEST_PASSWORD})
    assert response.status_code == 302
    with app.app_context():
        (august,) = [invoice for invoice in Month().invoices("2026-08") if invoice["client"] == "acme"]
    pages = {}
    for path in ("/billing/", f"/billing/invoices/{august['id']}"):
        response = browser.get(path)
        assert response.status_code == 200, path
        pages[path] = re.sub(r'(nonce|value)="[^"]*"', "", response.get_data(as_text=True))
    return pages


def test_a_restored_installation_shows_and_bills_the_same(installations, runner_for, tmp_path):
    source = installations("source", migrate=True, key="the-source-key-" + "s" * 40)
    _seed_a_billed_august(source.app)
    _kamailio_subscriber(source.instance)
    archive = tmp_path / "seatmeter.backup.tar.gz"

    result = runner_for(source.app).invoke(args=["backup", str(archive)])

    assert result.exit_code == 0, result.output
    assert "secret key: included" in result.output
    assert archive.stat().st_mode & 0o077 == 0, "the archive holds the secret key: owner-only"
    with tarfile.open(archive) as tar:
        assert {"manifest.json", "secret_key"} <= set(tar.getnames())
    august, spla, pages = _figures(source.app, "2026-08"), _spla(source.app, "2026-08"), _pages(source.app)
    assert august, "the seed billed nothing"
    september = _close_september(source.app)
    assert september, "September billed nothing"

    # A new installation: an empty database, its own (different) key, no Kamailio data.
    target = installations("target", migrate=False, key="another-key-" + "t" * 40)
    result = runner_for(target.app).invoke(args=["restore", str(archive)])

    assert result.exit_code == 0, result.output
    assert "Secret key restored" in result.output
    # Started again after the restore, as the operator would: the restored key is read on start.
    reopened = _open(target.database_url, target.instance)
    try:
        assert reopened.config["SECRET_KEY"] == source.app.config["SECRET_KEY"]
        assert _figures(reopened, "2026-08") == august
        assert _spla(reopened, "2026-08") == spla
        assert _pages(reopened) == pages
        assert _close_september(reopened) == september
        with sqlite3.connect(target.instance / "kamailio.sqlite") as connection:
            assert connection.execute("SELECT * FROM subscriber").fetchall() == [KAMAILIO_SUBSCRIBER]
        connection.close()
    finally:
        reopened.extensions["seatmeter.db"].engine.dispose()


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(installations, runner_for, tmp_path):
    source = installations("full", migrate=True, key="the-source-key-" + "s" * 40)
    _seed_a_billed_august(source.app)
    archive = tmp_path / "full.tar.gz"
    assert runner_for(source.app).invoke(args=["backup", str(archive)]).exit_code == 0
    august = _figures(source.app, "2026-08")
    # Another installation already in use: migrated, with its own clients.
    target = installations("busy", migrate=True, key="another-key-" + "t" * 40)
    with target.app.app_context():
        create_client(Actor.system("tests"), "zeta", "Zeta")
        db.session.commit()

    refused = runner_for(target.app).invoke(args=["restore", str(archive)])

    assert refused.exit_code != 0
    assert "is not empty" in refused.output and "--force" in refused.output
    assert (target.instance / "secret_key").read_text().startswith("another-key-"), "nothing changed"
    with target.app.app_context():
        assert [invoice["client"] for invoice in Month().invoices()] == []

    forced = runner_for(target.app).invoke(args=["restore", "--force", str(archive)])

    assert forced.exit_code == 0, forced.output
    target.app.extensions["seatmeter.db"].engine.dispose()
    assert _figures(target.app, "2026-08") == august


def test_restore_answers_plainly_for_a_file_that_is_not_a_backup(installations, runner_for, tmp_path):
    target = installations("plain", migrate=False, key="a-key-" + "k" * 40)
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")

    for path in (not_a_backup, tmp_path / "missing.tar.gz"):
        result = runner_for(target.app).invoke(args=["restore", str(path)])
        assert result.exit_code != 0
        assert "Traceback" not in result.output
        assert "not a Seatmeter backup" in result.output or "There is no file" in result.output


@pytest.fixture
def runner_for():
    return lambda app: app.test_cli_runner()
