"""Requests larger than MAX_REQUEST_BYTES are refused before they are read: 413, nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from metering.usage.models import UsageEvent
from portal.accounts.models import FailedLogin, Role
from portal.config import ConfigError, load_config
from portal.db import db

FIVE_MB = 5 * 1024 * 1024


def _config(environ: dict[str, str], tmp_path: Path) -> dict:
    return load_config({"SECRET_KEY": "k" * 20, **environ}, tmp_path)


def test_the_limit_is_5_mb_unless_configured(tmp_path):
    assert _config({}, tmp_path)["MAX_CONTENT_LENGTH"] == FIVE_MB
    assert _config({"MAX_REQUEST_BYTES": "1048576"}, tmp_path)["MAX_CONTENT_LENGTH"] == 1048576
    with pytest.raises(ConfigError, match="MAX_REQUEST_BYTES"):
        _config({"MAX_REQUEST_BYTES": "5 MB"}, tmp_path)


def test_an_api_body_over_the_limit_is_a_json_413_and_nothing_is_stored(
    make_client, catalog, make_token, api_as
):
    make_client("acme")
    api = api_as(make_token(Role.RESELLER_ADMIN))
    event = {"id": "e-1", "client": "acme", "user": "alice@acme.example", "product": "desktop",
             "action": "start", "at": "2026-10-03T09:00:00Z"}  # fmt: skip
    body = json.dumps({"events": [event], "padding": "x" * FIVE_MB})

    response = api.post("/usage-events", raw=body)

    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_large"
    assert "5 MB" in error["message"]
    assert db.session.scalar(select(func.count()).select_from(UsageEvent)) == 0


def test_a_form_over_the_limit_is_a_plain_413_page(client):
    response = client.post("/login", data={"email": "someone@example.com", "password": "x" * FIVE_MB})

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "too large" in response.get_data(as_text=True)
    # Only this request's address: another test's app commits its own failed login outside the
    # rolled-back transaction, and that one is not this request's doing.
    stored = select(func.count()).select_from(FailedLogin).where(FailedLogin.email == "someone@example.com")
    assert db.session.scalar(stored) == 0
