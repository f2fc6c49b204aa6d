"""Request ids on every response, and JSON log lines an operator's log pipeline can read."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from flask_login import current_user

from portal import create_app
from portal.accounts.models import Role
from portal.accounts.services import create_client, create_user_with_password
from portal.audit.services import Actor
from portal.db import db
from tests.conftest import TEST_PASSWORD, app_overrides

log = logging.getLogger("seatmeter.tests")


@pytest.fixture
def json_app(engine, database_url, tmp_path) -> Iterator[Flask]:
    """An app with LOG_FORMAT=json on the test database (its transaction rolled back at the end)."""
    app = create_app({**app_overrides(database_url, tmp_path / "instance"), "LOG_FORMAT": "json"})
    connection = engine.connect()
    transaction = connection.begin()
    app.extensions["seatmeter.db"].bind_to(connection)
    with app.app_context():
        yield app
    transaction.rollback()
    connection.close()


@pytest.fixture
def lines(json_app) -> Iterator[io.StringIO]:
    """What the JSON handler writes, instead of the process's stderr; the handler goes at the end."""
    root = logging.getLogger()
    handler = next(h for h in root.handlers if h.get_name() == "seatmeter-json")
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    yield stream
    root.removeHandler(handler)


def _records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_id_is_echoed_or_made(client):
    given = client.get("/login", headers={"X-Request-ID": "lb-7f3a.42"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.42"
    made = client.get("/login")
    assert len(made.headers["X-Request-ID"]) == 32
    assert made.headers["X-Request-ID"] != client.get("/login").headers["X-Request-ID"]
    # A header that could forge a log line (or is absurdly long) is replaced, not echoed.
    forged = client.get("/login", headers={"X-Request-ID": 'x", "level": "ERROR'})
    assert len(forged.headers["X-Request-ID"]) == 32
    assert client.get("/login", headers={"X-Request-ID": "a" * 500}).headers["X-Request-ID"] != "a" * 500


def test_each_line_is_json_with_time_level_logger_message_and_request_id(json_app, lines):
    with json_app.test_request_context("/login", headers={"X-Request-ID": "req-1"}):
        json_app.preprocess_request()
        log.warning("the broker did not answer for %s", "seat #7")
    [record] = _records(lines)
    assert record["level"] == "WARNING"
    assert record["logger"] == "seatmeter.tests"
    assert record["message"] == "the broker did not answer for seat #7"
    assert record["request_id"] == "req-1"
    assert record["time"].endswith("+00:00")  # UTC, ISO 8601
    assert "user_id" not in record and "task_id" not in record


def test_a_logged_in_users_id_and_client_ref_are_on_the_line(json_app, lines):
    acme = create_client(Actor.system("tests"), "acme", "Acme")
    user = create_user_with_password(
        Actor.system("tests"), "boss@acme.example", "Boss", Role.CLIENT_ADMIN, acme, TEST_PASSWORD
    )
    db.session.commit()
    client = json_app.test_client()
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 302
    with client.session_transaction() as session:
        cookie_session = dict(session)
    with json_app.test_request_context("/client/"):
        from flask import session

        session.update(cookie_session)
        json_app.preprocess_request()
        assert current_user.id == user.id and current_user.client.ref == "acme"
        log.info("seat ordered")
    record = _records(lines)[-1]
    assert record["message"] == "seat ordered"
    assert record["user_id"] == user.id
    assert record["client_id"] == acme.id
    assert record["client_ref"] == "acme"


def test_a_celery_tasks_lines_carry_its_task_id(json_app, lines):
    celery = json_app.extensions["celery"]

    @celery.task(name="tests.logs_probe")
    def probe() -> str:
        log.info("probing")
        return "done"

    result = probe.apply()
    record = next(r for r in _records(lines) if r["message"] == "probing")
    assert record["task_id"] == result.id
    assert record["task_name"] == "tests.logs_probe"


def test_text_logs_stay_the_default(app):
    assert app.config["LOG_FORMAT"] == "text"
    assert not any(h.get_name() == "seatmeter-json" for h in logging.getLogger().handlers)


def test_gunicorns_own_lines_become_json_too(engine, database_url, tmp_path):
    gunicorn = logging.getLogger("gunicorn.error")
    text_handler = logging.StreamHandler(io.StringIO())  # what gunicorn sets up before loading the app
    gunicorn.addHandler(text_handler)
    try:
        create_app({**app_overrides(database_url, tmp_path / "instance"), "LOG_FORMAT": "json"})
        assert text_handler not in gunicorn.handlers
        [handler] = gunicorn.handlers
        stream = io.StringIO()
        handler.setStream(stream)
        gunicorn.info("Booting worker with pid: %s", 4242)
        [record] = _records(stream)
        assert record["logger"] == "gunicorn.error"
        assert record["message"] == "Booting worker with pid: 4242"
    finally:
        for handler in list(gunicorn.handlers):
            gunicorn.removeHandler(handler)
        gunicorn.propagate = True
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h.get_name() == "seatmeter-json"]:
            root.removeHandler(handler)
