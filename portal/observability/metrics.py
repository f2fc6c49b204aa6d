"""Prometheus metrics: request latency, Celery task outcomes, and figures read from the database.

Three kinds of figures, three sources:

- per process, counted as things happen: request latency by Flask endpoint, and each Celery task's
  outcome, latency and last success (Celery's signals, in whichever process ran the task);
- read from the database when ``/metrics`` is scraped (:class:`DatabaseFigures`): seats by state,
  failed seats, unsent invoices, unfiled SPLA reports, the last close and true-up run;
- several processes (gunicorn workers, Celery's prefork children) share their counters through
  prometheus_client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set: every process of
  the host writes its figures there and ``/metrics`` adds them up (docs/observability.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from celery import Task, signals
from flask import Flask, Response, g, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from metering import (
    BillingPeriod,
    BillingPeriodState,
    Invoice,
    InvoiceStatus,
    StripeEvent,
    billing_timezone,
    filing_status,
    unfiled_periods,
)
from portal.accounts.services import get_reseller
from portal.db import db, utcnow
from portal.orders.models import Seat, SeatState
from provisioning import TrueupRun

# The *_created series double every series for a figure nobody graphs.
disable_created_metrics()

# Web pages answer in tens of milliseconds; a month close's task takes minutes.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

REQUEST_SECONDS = Histogram(
    "seatmeter_http_request_duration_seconds",
    "Time to answer a request, by Flask endpoint (not the raw path), method and status.",
    ["endpoint", "method", "status"],
    buckets=_REQUEST_BUCKETS,
)
TASKS = Counter(
    "seatmeter_celery_tasks",
    "Celery tasks run, by task name and outcome (success, failure, retry, ...).",
    ["task", "outcome"],
)
TASK_SECONDS = Histogram(
    "seatmeter_celery_task_duration_seconds",
    "Time a Celery task ran, by task name, whatever its outcome.",
    ["task"],
    buckets=_TASK_BUCKETS,
)
TASK_LAST_SUCCESS = Gauge(
    "seatmeter_celery_task_last_success_timestamp_seconds",
    "When each Celery task last finished successfully (the provisioning sweep among them).",
    ["task"],
    multiprocess_mode="max",
)

_UNMATCHED = "unmatched"  # no route matched (a 404): one label, whatever path was asked for
_task_started: dict[str, float] = {}


def _start_timer() -> None:
    g.seatmeter_request_started = time.perf_counter()


def _observe_request(response: Response) -> Response:
    started = g.pop("seatmeter_request_started", None)
    if started is not None:
        REQUEST_SECONDS.labels(
            request.endpoint or _UNMATCHED, request.method, str(response.status_code)
        ).observe(time.perf_counter() - started)
    return response


def _task_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id is not None:
        _task_started[task_id] = time.perf_counter()


def _task_postrun(
    task_id: str | None = None, task: Task | None = None, state: str | None = None, **_: Any
) -> None:
    started = _task_started.pop(task_id, None) if task_id is not None else None
    name = task.name if task is not None else "unknown"
    outcome = (state or "unknown").lower()
    TASKS.labels(name, outcome).inc()
    if started is not None:
        TASK_SECONDS.labels(name).observe(time.perf_counter() - started)
    if outcome == "success":
        TASK_LAST_SUCCESS.labels(name).set_to_current_time()


_signals_connected = False


def init_metrics(app: Flask) -> None:
    # First of all before-request hooks, so time spent in the others (a rate limit's 429, a
    # login check) is counted too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_observe_request)
    global _signals_connected
    if not _signals_connected:
        # Celery's signals are process-wide; one receiver serves every app in the process.
        signals.task_prerun.connect(_task_prerun, weak=False)
        signals.task_postrun.connect(_task_postrun, weak=False)
        _signals_connected = True


def _timestamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class DatabaseFigures(Collector):
    """Figures read from the database at scrape time (inside the request's app context)."""

    def collect(self) -> Iterator[Metric]:
        try:
            figures = list(self._figures())
        except SQLAlchemyError:
            db.session.rollback()
            yield _gauge("seatmeter_database_figures_up", "1 if the database figures could be read.", 0)
            return
        yield from figures
        yield _gauge("seatmeter_database_figures_up", "1 if the database figures could be read.", 1)

    def _figures(self) -> Iterator[Metric]:
        session = db.session
        counts = dict(session.execute(select(Seat.state, func.count(Seat.id)).group_by(Seat.state)).all())
        seats = GaugeMetricFamily("seatmeter_seats", "Seats by observed state.", labels=["state"])
        for state in SeatState:
            seats.add_metric([state.value], counts.get(state, 0))
        yield seats
        yield _gauge(
            "seatmeter_provisioning_failed_seats",
            "Seats whose provisioning failed and wait for the reseller (the failed-provisioning queue).",
            counts.get(SeatState.FAILED, 0),
        )
        unsent = session.scalar(
            select(func.count(Invoice.id)).where(
                Invoice.status == InvoiceStatus.FINALIZED, Invoice.stripe_invoice_id.is_(None)
            )
        )
        yield _gauge(
            "seatmeter_invoices_unsent",
            "Invoices approved (finalized) that have not reached Stripe yet.",
            unsent or 0,
        )
        yield self._spla_reports()
        closed_at = session.scalar(select(func.max(BillingPeriodState.closed_at)))
        yield _gauge(
            "seatmeter_last_close_timestamp_seconds",
            "When the last month close that went through every client started (0: never).",
            _timestamp(closed_at),
        )
        trueup_at = session.scalar(select(func.max(TrueupRun.finished_at)))
        yield _gauge(
            "seatmeter_last_trueup_sync_timestamp_seconds",
            "When the last true-up run (the platforms' accounts read and compared) finished (0: never).",
            _timestamp(trueup_at),
        )
        stripe_at = session.scalar(select(func.max(StripeEvent.received_at)))
        yield _gauge(
            "seatmeter_last_stripe_event_timestamp_seconds",
            "When the last Stripe webhook event (payment news) was received and applied (0: never).",
            _timestamp(stripe_at),
        )

    def _spla_reports(self) -> GaugeMetricFamily:
        """Months over and not marked submitted, since the installation began (a year at most)."""
        tz, now = billing_timezone(), utcnow()
        last = BillingPeriod.containing(now, tz).previous()
        first = last
        for _ in range(11):
            first = first.previous()
        reseller = get_reseller()
        if reseller is not None:
            first = max(first, BillingPeriod.containing(reseller.created_at, tz))
        states = {"due": 0, "overdue": 0}
        for period in unfiled_periods(first, last):
            state = filing_status(period, tz, now).state.value
            if state in states:
                states[state] += 1
        family = GaugeMetricFamily(
            "seatmeter_spla_reports_unfiled",
            "Months over whose SPLA report is not marked submitted: still due (by the 10th) or overdue.",
            labels=["state"],
        )
        for state, count in states.items():
            family.add_metric([state], count)
        return family


def process_registry() -> CollectorRegistry:
    """This process's figures, or, in multiprocess mode, those of every process of the host."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition() -> bytes:
    """The text a scrape gets: the host's process figures, then the database's."""
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseFigures())
    return generate_latest(process_registry()) + generate_latest(database)
