"""A short load test: the portal under real gunicorn (gunicorn.conf.py) on the configured database
(a scratch SQLite file by default), 6 concurrent keep-alive clients on /client/, /reseller/ and
GET /api/v1/seats in turn. Every answer is a 200. Its full form, on PostgreSQL with 1,000 clients,
is `make bench` (bench/pages.py, whose seeding, server and load generator this reuses)."""

from __future__ import annotations

import pytest

from bench.pages import ROOT, Server, measure, seed_portal, table
from tests.conftest import ScratchDatabases
from tests.standins.ports import free_port

CONCURRENCY = 6
SECONDS = 1.5


@pytest.mark.slow
def test_pages_and_the_api_under_concurrent_load_answer_without_errors(
    scratch_databases: ScratchDatabases, capsys: pytest.CaptureFixture[str]
):
    url = scratch_databases.create_migrated("load")
    seeded = seed_portal(url, seats=40)
    port = free_port()
    server = Server(url, port, ROOT, workers=2)
    try:
        server.wait_ready()
        figures = measure(port, seeded, CONCURRENCY, SECONDS, "40 seats", "1 client")
    finally:
        server.stop()

    with capsys.disabled():
        print(f"\n{table(figures, CONCURRENCY)}")
    assert {figure.name: figure.errors for figure in figures} == {figure.name: 0 for figure in figures}
    assert all(figure.requests > 0 for figure in figures)
