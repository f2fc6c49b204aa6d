"""PostgreSQL drops the app's connection mid-request (its backend terminated, as in a restart or a
failover): a read is answered after one retry, and otherwise the API answers a JSON 503 with
Retry-After and pages a plain 503 page, never a 500; a change is not retried and not doubled.
Needs PostgreSQL (DATABASE_URL); skipped on SQLite, whose connections cannot be dropped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.accounts.models import EndUser, Role
from portal.accounts.services import create_client, create_user_with_password
from portal.accounts.token_services import create_api_token
from portal.audit.services import Actor
from portal.catalog.services import seed_catalog
from portal.db import db
from tests.conftest import TEST_PASSWORD, ScratchDatabases, app_overrides

TESTS = Actor.system("tests")
pytestmark = pytest.mark.faults


class BackendKiller:
    """Terminates the PostgreSQL backend of the app's connection just before its next N statements."""

    def __init__(self, engine: Engine, admin: Engine) -> None:
        self.engine = engine
        self.admin = admin
        self.remaining = 0
        self.killed = 0
        event.listen(engine, "before_cursor_execute", self._kill)

    def _kill(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.remaining <= 0:
            return
        self.remaining -= 1
        pid = conn.connection.dbapi_connection.info.backend_pid
        with self.admin.connect() as admin:
            # With a timeout, PostgreSQL waits until the backend is gone (PostgreSQL 14+).
            admin.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        self.killed += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._kill)


@pytest.fixture
def outage(scratch_databases: ScratchDatabases, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if scratch_databases.backend != "postgresql":
        pytest.skip("terminates PostgreSQL backends: set DATABASE_URL to a PostgreSQL server")
    database_url = scratch_databases.create_migrated("outage")
    app = create_app(app_overrides(database_url, tmp_path / "instance"))
    with app.app_context():
        seed_catalog(TESTS)
        acme = create_client(TESTS, "acme", "Acme")
        create_user_with_password(TESTS, "boss@acme.example", "Boss", Role.CLIENT_ADMIN, acme, TEST_PASSWORD)
        _, token = create_api_token(TESTS, "outage test", Role.CLIENT_ADMIN, acme)
        db.session.commit()
    engine = app.extensions["seatmeter.db"].engine
    admin = create_engine(make_url(database_url), isolation_level="AUTOCOMMIT")
    killer = BackendKiller(engine, admin)
    yield {"app": app, "killer": killer, "headers": {"Authorization": f"Bearer {token}"}}
    killer.close()
    admin.dispose()
    engine.dispose()


def _app(outage) -> Flask:
    return outage["app"]


def test_a_read_whose_connection_drops_is_answered_after_one_retry(outage):
    http = _app(outage).test_client()
    outage["killer"].remaining = 1

    response = http.get("/api/v1/catalog", headers=outage["headers"])

    assert outage["killer"].killed == 1
    assert response.status_code == 200
    assert response.get_json()


def test_connections_dropped_between_requests_are_replaced_unseen(outage):
    http = _app(outage).test_client()
    assert http.get("/api/v1/catalog", headers=outage["headers"]).status_code == 200
    with outage["killer"].admin.connect() as admin:
        admin.execute(
            text(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )

    assert http.get("/api/v1/catalog", headers=outage["headers"]).status_code == 200


def test_the_api_answers_a_json_503_with_retry_after_while_the_database_stays_away(outage):
    http = _app(outage).test_client()
    outage["killer"].remaining = 1000

    response = http.get("/api/v1/catalog", headers=outage["headers"])

    assert response.status_code == 503
    assert response.is_json
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert "Try again in a few seconds" in response.get_json()["error"]["message"]
    assert int(response.headers["Retry-After"]) > 0
    assert outage["killer"].killed == 2, "one try and one retry"


def test_a_change_whose_connection_drops_is_not_retried_nor_doubled(outage):
    app = _app(outage)
    http = app.test_client()
    outage["killer"].remaining = 1

    response = http.post(
        "/api/v1/end-users", json={"name": "Dana", "email": "dana@acme.example"}, headers=outage["headers"]
    )

    assert response.status_code == 503
    assert response.is_json
    assert "Retry-After" in response.headers
    assert outage["killer"].killed == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(EndUser)) == 0
    again = http.post(
        "/api/v1/end-users", json={"name": "Dana", "email": "dana@acme.example"}, headers=outage["headers"]
    )
    assert again.status_code == 201, again.get_json()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(EndUser)) == 1


def test_a_page_answers_a_plain_503_page_while_the_database_stays_away(outage):
    http = _app(outage).test_client()
    login = http.post("/login", data={"email": "boss@acme.example", "password": TEST_PASSWORD})
    assert login.status_code == 302
    outage["killer"].remaining = 1000

    response = http.get("/billing/")

    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "Try again in a moment" in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    outage["killer"].remaining = 0
    assert http.get("/billing/").status_code == 200, "all is well once the database is back"


def test_a_retried_read_answers_as_it_would_have_without_the_drop(outage):
    http = _app(outage).test_client()
    outage["killer"].remaining = 1

    response = http.get("/api/v1/end-users/999999", headers=outage["headers"])

    assert outage["killer"].killed == 1
    assert response.status_code == 404
    assert response.is_json
