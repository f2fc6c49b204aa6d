"""docs/examples/rmm_snapshot.py, run as its own process against the portal served over HTTP on
127.0.0.1 (werkzeug in a thread, its own database): what the docs promise an MSP is what happens."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from metering import IntervalSource, LedgerInterval
from portal import create_app
from portal.accounts.integration_services import create_integration, create_integration_token, map_source
from portal.accounts.models import UnmappedSource
from portal.accounts.services import create_client
from portal.audit.services import Actor
from portal.catalog.models import Product, ProductBilling, ProductKind, ProductPrice
from portal.catalog.services import seed_catalog
from portal.db import db
from tests.conftest import app_overrides
from tests.standins.ports import LOOPBACK, free_port

SCRIPT = Path(__file__).resolve().parents[3] / "docs" / "examples" / "rmm_snapshot.py"
SETUP = Actor.system("tests")


@pytest.fixture
def live_portal(scratch_databases, tmp_path) -> Iterator[tuple[Flask, str, str]]:
    url = scratch_databases.create_migrated("rmm_example")
    app = create_app(app_overrides(url, tmp_path / "instance"))
    with app.app_context():
        seed_catalog(SETUP)
        acme = create_client(SETUP, "acme", "Acme Law LLP")
        devices = Product(
            code="rmm-agents",
            name="Managed devices",
            kind=ProductKind.DESKTOP,
            price_minor=300,
            billing=ProductBilling.METERED,
            unit="device",
        )
        devices.prices.append(ProductPrice(effective_from="2000-01", amount_minor=300, currency="USD"))
        db.session.add(devices)
        ninja = create_integration(SETUP, "ninjaone", "NinjaOne RMM")
        map_source(SETUP, ninja, "org-17", acme)
        _token, raw = create_integration_token(SETUP, ninja, "nightly export")
        db.session.commit()
    port = free_port()
    server = make_server(LOOPBACK, port, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://{LOOPBACK}:{port}", raw
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            app.extensions["seatmeter.db"].engine.dispose()


def _run(export: dict, base_url: str, token: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path), "--url", base_url, "--source", "ninjaone"],
        env={"SEATMETER_TOKEN": token, "PATH": "/usr/bin:/bin", "NO_PROXY": "*"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_documented_rmm_script_sends_snapshots_reads_them_back_and_reports_unmapped_ids(
    live_portal, tmp_path
):
    app, base_url, token = live_portal
    export = {
        "as_of": "2026-11-03T02:00:00Z",
        "organisations": [
            {
                "id": "org-17",
                "licensed_users": {"desktop": ["ann@acme.example", "bob@acme.example"]},
                "devices": {"rmm-agents": 12},
            }
        ],
    }

    first = _run(export, base_url, token, tmp_path)
    again = _run(export, base_url, token, tmp_path)

    assert first.returncode == 0, first.stderr
    assert "org-17 / desktop: created" in first.stdout
    assert "org-17 / rmm-agents: created" in first.stdout
    assert "Seatmeter holds 2 snapshots" in first.stdout
    assert "org-17 / desktop: unchanged" in again.stdout, again.stderr
    with app.app_context():
        holders = db.session.scalars(
            select(LedgerInterval.user_key).where(LedgerInterval.source == IntervalSource.SNAPSHOT)
        ).all()
        assert sorted(holders) == ["ann@acme.example", "bob@acme.example"]

    export["organisations"].append({"id": "org-99", "devices": {"rmm-agents": 3}})
    unmapped = _run(export, base_url, token, tmp_path)

    assert unmapped.returncode == 2
    assert "org-99 / rmm-agents: refused" in unmapped.stderr and "org-99" in unmapped.stderr
    with app.app_context():
        assert db.session.scalars(select(UnmappedSource.external_org)).all() == ["org-99"]
