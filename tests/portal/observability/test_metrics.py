"""What Prometheus reads at /metrics after real work: a provisioning run, pages served, bills and
SPLA months waiting.

The provisioning run goes through the real Celery task (``provisioning.reconcile_seat``, run in
this process by Celery's own ``apply``), so the figures come from Celery's signals as they do in a
worker: VoIP seats on a Kamailio-schema database become active, a desktop without a WorkSpaces
directory fails for good.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from metering import BillingPeriodState, Invoice, InvoiceStatus, SplaSubmission, StripeEvent
from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Client
from portal.catalog.services import get_product
from portal.db import db, utcnow
from portal.orders.models import Seat, SeatState
from provisioning import TrueupRun, place_order
from tests.conftest import TEST_SECRET_KEY
from tests.provisioning.conftest import ACTOR

ROOT = Path(__file__).resolve().parents[3]


def scrape(client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics: (name, labels) -> value."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def voip_on_local_kamailio(app, tmp_path):
    app.config["KAMAILIO_DB_URL"] = f"sqlite:///{tmp_path / 'kamailio.sqlite'}"
    app.config["SIP_DOMAIN"] = "seats.test"
    app.extensions.pop("seatmeter.adapters", None)


def provision(app, seats: list[Seat]) -> int:
    """Run each seat's task until it rests, as a worker would; the number of task runs."""
    celery = app.extensions["celery"]
    celery.loader.import_default_modules()  # the task modules, as a worker loads them at start
    task = celery.tasks["provisioning.reconcile_seat"]
    runs = 0
    for seat in seats:
        for _ in range(5):
            runs += 1
            if task.apply(args=[seat.id]).get() == "nothing to do":
                break
    return runs


def test_a_provisioning_run_shows_in_seats_by_state_and_task_figures(
    app, client, catalog, make_client, voip_on_local_kamailio
):
    acme: Client = make_client("acme")
    voip = place_order(ACTOR, acme, get_product("voip"), 3, []).seats
    alice = add_end_user(ACTOR, acme, "Alice", "alice@acme.example")
    desktop = place_order(ACTOR, acme, get_product("desktop"), 1, [alice]).seats
    db.session.commit()
    before = scrape(client)
    assert value(before, "seatmeter_seats", state="ordered") == 4

    runs = provision(app, [*voip, *desktop])

    states = {seat.id: db.session.get(Seat, seat.id, populate_existing=True).state for seat in voip + desktop}
    assert [states[seat.id] for seat in voip] == [SeatState.ACTIVE] * 3
    assert states[desktop[0].id] is SeatState.FAILED
    after = scrape(client)
    assert value(after, "seatmeter_seats", state="active") == 3
    assert value(after, "seatmeter_seats", state="failed") == 1
    assert value(after, "seatmeter_seats", state="ordered") == 0
    assert value(after, "seatmeter_provisioning_failed_seats") == 1
    assert value(after, "seatmeter_database_figures_up") == 1

    task = {"task": "provisioning.reconcile_seat"}
    succeeded = value(after, "seatmeter_celery_tasks_total", outcome="success", **task) - value(
        before, "seatmeter_celery_tasks_total", outcome="success", **task
    )
    assert succeeded == runs
    timed = value(after, "seatmeter_celery_task_duration_seconds_count", **task) - value(
        before, "seatmeter_celery_task_duration_seconds_count", **task
    )
    assert timed == runs
    # Each run landed in a latency bucket: all of them under a minute, so in every bucket from 60 s up.
    in_a_minute = value(after, "seatmeter_celery_task_duration_seconds_bucket", le="60.0", **task) - value(
        before, "seatmeter_celery_task_duration_seconds_bucket", le="60.0", **task
    )
    assert in_a_minute == runs
    assert (
        value(after, "seatmeter_celery_task_last_success_timestamp_seconds", **task)
        >= (utcnow() - timedelta(minutes=1)).timestamp()
    )


def test_request_latency_is_labelled_by_endpoint_not_by_path(client):
    before = scrape(client)
    client.get("/login")
    client.get("/no/such/page/123")
    after = scrape(client)
    login = {"endpoint": "auth.login", "method": "GET", "status": "200"}
    assert value(after, "seatmeter_http_request_duration_seconds_count", **login) == (
        value(before, "seatmeter_http_request_duration_seconds_count", **login) + 1
    )
    unmatched = {"endpoint": "unmatched", "method": "GET", "status": "404"}
    assert value(after, "seatmeter_http_request_duration_seconds_count", **unmatched) >= 1
    assert not any("no/such/page" in str(labels) for _, labels in after)


def test_unsent_invoices_unfiled_spla_months_and_the_last_close(app, client, make_client):
    acme = make_client("acme")
    now = utcnow()
    for period, status, pushed in (
        ("2026-01", InvoiceStatus.FINALIZED, None),  # approved, never reached Stripe
        ("2026-02", InvoiceStatus.FINALIZED, "in_123"),  # in Stripe, awaiting payment
        ("2026-03", InvoiceStatus.DRAFT, None),  # not approved yet: nothing to send
    ):
        db.session.add(
            Invoice(
                client_id=acme.id,
                period=period,
                status=status,
                currency="usd",
                total_minor=1000,
                starts_at=now,
                ends_at=now,
                built_at=now,
                finalized_at=now if status is InvoiceStatus.FINALIZED else None,
                stripe_invoice_id=pushed,
            )
        )
    closed_at = now - timedelta(days=2)
    db.session.add(BillingPeriodState(period="2026-03", closed_at=closed_at))
    received_at = now - timedelta(minutes=5)
    db.session.add(StripeEvent(id="evt_1", type="invoice.paid", object_id="in_123", received_at=received_at))
    db.session.commit()

    samples = scrape(client)
    assert value(samples, "seatmeter_invoices_unsent") == 1
    assert value(samples, "seatmeter_last_close_timestamp_seconds") == pytest.approx(closed_at.timestamp())
    assert value(samples, "seatmeter_last_stripe_event_timestamp_seconds") == pytest.approx(
        received_at.timestamp()
    )
    assert value(samples, "seatmeter_last_trueup_sync_timestamp_seconds") == 0  # never ran
    # The reseller's installation is new: only last month's report is owed, and it is not filed.
    unfiled = value(samples, "seatmeter_spla_reports_unfiled", state="due") + value(
        samples, "seatmeter_spla_reports_unfiled", state="overdue"
    )
    assert unfiled >= 1


def test_a_filed_spla_month_is_no_longer_counted(app, client):
    before = scrape(client)
    owed = value(before, "seatmeter_spla_reports_unfiled", state="due") + value(
        before, "seatmeter_spla_reports_unfiled", state="overdue"
    )
    from metering import BillingPeriod, billing_timezone

    last = BillingPeriod.containing(utcnow(), billing_timezone()).previous()
    db.session.add(SplaSubmission(period=str(last), submitted_at=utcnow(), submitted_by="tests", report=[]))
    db.session.commit()
    after = scrape(client)
    assert (
        value(after, "seatmeter_spla_reports_unfiled", state="due")
        + value(after, "seatmeter_spla_reports_unfiled", state="overdue")
        == owed - 1
    )


_PROBE_SCRIPT = textwrap.dedent(
    """
    import sys
    from portal import create_app

    app = create_app({"INSTANCE_PATH": sys.argv[1], "SECRET_KEY": sys.argv[2],
                      "CELERY_BROKER_URL": "memory://", "DATABASE_URL": sys.argv[3]})
    celery = app.extensions["celery"]

    @celery.task(name="tests.multiprocess_probe")
    def probe():
        return "done"

    probe.apply().get()
    """
)


@pytest.mark.slow
def test_task_figures_of_several_processes_are_added_up(client, database_url, tmp_path, monkeypatch):
    """Celery's prefork children and gunicorn's workers are separate processes; with
    PROMETHEUS_MULTIPROC_DIR set, /metrics adds up what each of them counted."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "PYTHONPATH": str(ROOT)}
    for worker in range(2):
        subprocess.run(
            [
                sys.executable,
                "-c",
                _PROBE_SCRIPT,
                str(tmp_path / f"w{worker}"),
                TEST_SECRET_KEY,
                database_url,
            ],
            env=env,
            cwd=ROOT,
            check=True,
            timeout=120,
        )
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    samples = scrape(client)
    probe = {"task": "tests.multiprocess_probe"}
    assert value(samples, "seatmeter_celery_tasks_total", outcome="success", **probe) == 2
    assert value(samples, "seatmeter_celery_task_duration_seconds_count", **probe) == 2
    assert value(samples, "seatmeter_seats", state="active") == 0  # the database's figures still come along
    assert value(samples, "seatmeter_database_figures_up") == 1

    # A host of workers alone: `metrics serve` shows the same task figures on a port of its own.
    port = free_port()
    env.update(DATABASE_URL=database_url, SECRET_KEY=TEST_SECRET_KEY, CELERY_BROKER_URL="memory://")
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "metrics", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        text = fetch_when_up(f"http://127.0.0.1:{port}/metrics", timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=10)
    served = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert value(served, "seatmeter_celery_tasks_total", outcome="success", **probe) == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch_when_up(url: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_last_trueup_run_is_the_last_sync_with_the_platforms(app, client):
    finished_at = utcnow() - timedelta(hours=3)
    db.session.add(
        TrueupRun(by="tests", started_at=finished_at - timedelta(minutes=2), finished_at=finished_at)
    )
    db.session.add(TrueupRun(by="tests", started_at=utcnow()))  # running now: not finished yet
    db.session.commit()
    samples = scrape(client)
    assert value(samples, "seatmeter_last_trueup_sync_timestamp_seconds") == pytest.approx(
        finished_at.timestamp()
    )
