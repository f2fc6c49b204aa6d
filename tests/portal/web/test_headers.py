"""Security headers on every response; nothing a logged-in person sees is stored by a browser.

The sweep walks the URL map's GET routes, as the CSRF and role sweeps do, so a new page is covered
without being listed here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal import create_app
from portal.accounts.models import Role
from portal.accounts.token_services import create_api_token
from portal.audit.services import Actor
from portal.db import db
from tests.conftest import app_overrides

ROOT = Path(__file__).resolve().parents[3]


def _get_paths(app) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint.endswith("static"):
            continue
        path = re.sub(r"<int:[^>]+>", "1", rule.rule)
        path = re.sub(r"<period>", "2026-10", path)
        paths.append(re.sub(r"<[^>]+>", "acme", path))
    return sorted(set(paths))


def _assert_secure_headers(response, where: str) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in policy, where
    assert "frame-ancestors 'none'" in policy, where
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "same-origin", where
    assert "camera=()" in headers.get("Permissions-Policy", ""), where


@pytest.mark.parametrize("role", [Role.RESELLER_ADMIN, Role.CLIENT_ADMIN, Role.CLIENT_USER])
def test_every_page_of_a_logged_in_user_has_the_headers_and_is_not_stored(
    app, client, make_user, make_client, login, role
):
    login(make_user(role, None if role.is_reseller else make_client("acme")))
    paths = _get_paths(app)
    assert len(paths) >= 30

    for path in paths:
        response = client.get(path)
        where = f"GET {path} answered {response.status_code}"
        _assert_secure_headers(response, where)
        assert response.headers.get("Cache-Control") == "no-store", where
        assert "Strict-Transport-Security" not in response.headers, where  # PUBLIC_URL is http here


def test_anonymous_pages_have_the_headers_and_static_files_stay_cacheable(client):
    login_page = client.get("/login")
    _assert_secure_headers(login_page, "/login")

    stylesheet = client.get("/static/seatmeter.css")
    _assert_secure_headers(stylesheet, "/static/seatmeter.css")
    assert "no-store" not in stylesheet.headers.get("Cache-Control", "")


def test_the_json_api_is_not_stored(app, client, make_client):
    _token, raw = create_api_token(Actor.system("tests"), "rmm", Role.CLIENT_ADMIN, make_client("acme"))
    db.session.commit()

    for response in (
        client.get("/api/v1/seats", headers={"Authorization": f"Bearer {raw}"}),
        client.get("/api/v1/seats"),  # the 401 too: it says nothing worth keeping, but is JSON
    ):
        assert response.mimetype == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        _assert_secure_headers(response, "/api/v1/seats")


def test_exports_are_not_stored(client, make_user, login):
    login(make_user(Role.RESELLER_ADMIN))

    for path in (
        "/reseller/exports/2026-10/quickbooks-online.csv",
        "/reseller/exports/2026-10/quickbooks-desktop.iif",
        "/reseller/spla/2026-10/report.csv",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "attachment" in response.headers["Content-Disposition"], path
        assert response.headers["Cache-Control"] == "no-store", path


def test_hsts_only_when_the_portal_is_served_over_https(database_url, engine, tmp_path):
    https = create_app({**app_overrides(database_url, tmp_path), "PUBLIC_URL": "https://portal.example"})

    response = https.test_client().get("/login")

    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_templates_have_no_inline_script_style_or_event_handlers():
    # What a CSP without 'unsafe-inline' would block: keep them in portal/static instead.
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.IGNORECASE
    )
    found = [
        f"{template.relative_to(ROOT)}: {match.group(0)}"
        for template in ROOT.glob("*/**/templates/**/*.html")
        if ".venv" not in template.parts
        for match in inline.finditer(template.read_text(encoding="utf-8"))
    ]

    assert found == []
