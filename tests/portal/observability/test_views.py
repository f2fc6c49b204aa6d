"""/healthz, /readyz and who may read /metrics, as a load balancer, an orchestrator and Prometheus do."""

from __future__ import annotations

import socket
import time

import pytest
import redis

from portal import ConfigError, create_app
from portal.accounts.models import Role
from tests.conftest import app_overrides


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _app_on(tmp_path, database_url: str, **settings: object):
    return create_app({**app_overrides(database_url, tmp_path / "instance"), **settings})


def test_healthz_answers_without_touching_the_database_or_the_session(
    client, make_user, login, count_queries
):
    login(make_user(Role.RESELLER_ADMIN))  # a browser's session cookie comes along
    with count_queries() as statements:
        response = client.get("/healthz")
        head = client.head("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert head.status_code == 200 and head.data == b""
    assert statements == []
    assert "Set-Cookie" not in response.headers  # the session was not even opened
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_is_up_while_the_database_is_unreachable(tmp_path):
    app = _app_on(tmp_path, f"sqlite:///{tmp_path / 'no-such-folder' / 'db.sqlite'}")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json["failed"] == ["database", "migrations"]
    assert ready.json["checks"]["database"].startswith("cannot reach the database")


def test_readyz_is_ready_on_a_migrated_database_and_a_reachable_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok"},
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_names_migrations_that_were_not_run(tmp_path, database_url):
    app = _app_on(tmp_path, f"sqlite:///{tmp_path / 'empty.sqlite'}")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failed"] == ["migrations"]
    assert response.json["checks"]["migrations"].startswith("database at none, code at ")
    assert "db upgrade" in response.json["checks"]["migrations"]


def test_readyz_names_an_unreachable_broker_within_seconds(tmp_path, database_url):
    app = _app_on(tmp_path, database_url, CELERY_BROKER_URL=f"redis://127.0.0.1:{_closed_port()}/13")
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    assert time.monotonic() - started < 10
    assert response.status_code == 503
    assert response.json["failed"] == ["broker"]
    assert response.json["checks"]["broker"].startswith("cannot reach the broker")
    assert "127.0.0.1" not in response.get_data(as_text=True)  # no broker address handed out


def test_readyz_reaches_a_real_redis_broker(tmp_path, database_url):
    try:
        redis.Redis(host="127.0.0.1", port=6379, db=13, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    app = _app_on(tmp_path, database_url, CELERY_BROKER_URL="redis://127.0.0.1:6379/13")
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["checks"]["broker"] == "ok"


def test_probes_need_no_login_and_are_not_rate_limited(client, app):
    app.config["RATELIMIT_ENABLED"] = True
    app.extensions["seatmeter.limiter"].enabled = True
    for _ in range(30):
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_metrics_are_served_to_loopback_and_refused_to_other_addresses(client):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert outside.status_code == 403
    assert "METRICS_ALLOWED_NETWORKS" in outside.get_data(as_text=True)


def test_metrics_open_to_the_bearer_token_or_an_allowed_network(tmp_path, database_url):
    token = "metrics-token-0123456789"
    app = _app_on(tmp_path, database_url, METRICS_TOKEN=token, METRICS_ALLOWED_NETWORKS="10.0.0.0/8")
    client = app.test_client()
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    refused = client.get("/metrics", environ_base=outside)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = client.get("/metrics", environ_base=outside, headers={"Authorization": f"Bearer {token}"})
    assert right.status_code == 200
    assert right.content_type.startswith("text/plain; version=")
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    # Loopback is no longer in the list: the operator's setting replaces the default.
    assert client.get("/metrics").status_code == 401


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("METRICS_TOKEN", "short", "at least 16"),
        ("METRICS_ALLOWED_NETWORKS", "10.0.0.0/8, the office", "'the office'"),
        ("LOG_FORMAT", "xml", "text or json"),
        ("SENTRY_DSN", "sentry.example.com/1", "http"),
    ],
)
def test_a_malformed_setting_stops_start_up_naming_it(tmp_path, database_url, setting, value, named):
    with pytest.raises(ConfigError) as error:
        _app_on(tmp_path, database_url, **{setting: value})
    assert error.value.variable == setting and named in str(error.value)
