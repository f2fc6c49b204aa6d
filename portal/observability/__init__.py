"""Watching a running installation: health and readiness probes, Prometheus metrics, request ids
and JSON logs, and the optional Sentry hook (docs/observability.md).

``init_app(app)`` wires all of it; ``create_app`` calls it last, so that the ``/healthz``
middleware sits in front of everything else (ProxyFix included) and the request timer starts
before every other hook.
"""

from __future__ import annotations

from flask import Flask

from portal.observability.cli import metrics_cli
from portal.observability.logs import init_logs
from portal.observability.metrics import init_metrics
from portal.observability.sentry import init_sentry
from portal.observability.views import init_views

__all__ = ["init_app"]


def init_app(app: Flask) -> None:
    init_sentry(app)
    # Each inserts its before-request hook first: the request id is assigned before the timer
    # starts, so even the timer's own log lines (if any) carry it.
    init_metrics(app)
    init_logs(app)
    init_views(app)
    app.cli.add_command(metrics_cli)
