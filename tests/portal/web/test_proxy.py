"""TRUSTED_PROXIES: the address behind nginx is believed only for as many proxies as configured."""

from __future__ import annotations

import pytest
from flask import request, url_for

from portal import ConfigError, create_app
from portal.config import load_config
from tests.conftest import app_overrides

SPOOFED_THEN_REAL = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https"}


def _seen_by(app) -> dict[str, str]:
    @app.route("/_seen")
    def seen() -> dict[str, str]:
        return {"address": request.remote_addr or "", "scheme": request.scheme}

    return app.test_client().get("/_seen", headers=SPOOFED_THEN_REAL).get_json()


def test_without_trusted_proxies_forwarded_headers_are_ignored(database_url, engine, tmp_path):
    app = create_app(app_overrides(database_url, tmp_path))

    assert _seen_by(app) == {"address": "127.0.0.1", "scheme": "http"}


def test_one_trusted_proxy_gives_the_address_it_saw(database_url, engine, tmp_path):
    app = create_app({**app_overrides(database_url, tmp_path), "TRUSTED_PROXIES": 1})

    # The left entry is whatever the client wrote into the header; only the proxy's own is believed.
    assert _seen_by(app) == {"address": "203.0.113.9", "scheme": "https"}


def test_trusted_proxies_defaults_to_none(tmp_path):
    assert load_config({}, tmp_path)["TRUSTED_PROXIES"] == 0


@pytest.mark.parametrize(("value", "says"), [("two", "whole number"), ("9", "from 0 to 5")])
def test_malformed_trusted_proxies_names_the_variable(tmp_path, value, says):
    with pytest.raises(ConfigError) as raised:
        load_config({"TRUSTED_PROXIES": value}, tmp_path)

    assert raised.value.variable == "TRUSTED_PROXIES"
    assert says in str(raised.value)


def test_one_trusted_proxy_gives_the_public_host_for_links(database_url, engine, tmp_path):
    app = create_app({**app_overrides(database_url, tmp_path), "TRUSTED_PROXIES": 1})

    @app.route("/_link")
    def link() -> dict[str, str]:
        return {"login": url_for("auth.login", _external=True)}

    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "portal.msp.example"}
    answer = app.test_client().get("/_link", headers=headers).get_json()

    assert answer == {"login": "https://portal.msp.example/login"}


def test_without_trusted_proxies_a_forwarded_host_is_ignored(database_url, engine, tmp_path):
    app = create_app(app_overrides(database_url, tmp_path))

    @app.route("/_link")
    def link() -> dict[str, str]:
        return {"login": url_for("auth.login", _external=True)}

    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    answer = app.test_client().get("/_link", headers=headers).get_json()

    assert answer == {"login": "http://localhost/login"}
