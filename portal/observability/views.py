"""``/healthz`` (the process answers), ``/readyz`` (it can do work) and ``/metrics`` (Prometheus).

``/healthz`` is answered in front of Flask, by :class:`HealthCheck`: no session, no database, no
rate limit, no CSRF, no hook of any kind runs for it, so it stays cheap under any load and answers
even when the database is down (a liveness probe must not restart a healthy process because a
dependency is away). ``/readyz`` and ``/metrics`` are ordinary views, exempt from rate limits, that
need no login; ``/metrics`` is open to a bearer token (``METRICS_TOKEN``) or to the networks of
``METRICS_ALLOWED_NETWORKS`` (loopback unless set).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST

from portal.auth.access import public
from portal.observability.metrics import exposition
from portal.observability.readiness import readiness

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

bp = Blueprint("observability", __name__)

HEALTHZ_PATH = "/healthz"
_HEALTHY = b'{"status": "ok"}'


class HealthCheck:
    """WSGI middleware answering ``GET``/``HEAD /healthz`` before anything else runs."""

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != HEALTHZ_PATH or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(_HEALTHY))),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [_HEALTHY]


@bp.get("/readyz")
@public
def readyz() -> Response:
    checks = readiness(current_app)
    ready = all(check.ok for check in checks)
    body: dict[str, Any] = {
        "status": "ready" if ready else "not ready",
        "checks": {check.name: check.detail for check in checks},
    }
    if not ready:
        body["failed"] = [check.name for check in checks if not check.ok]
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _bearer_matches(token: str | None) -> bool:
    if not token:
        return False
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _from_allowed_network(networks: str) -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(network.strip(), strict=False)
        for network in networks.split(",")
        if network.strip()
    )


def _plain(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(message + "\n", status, mimetype="text/plain", headers=headers)


@bp.get("/metrics")
# The view checks METRICS_TOKEN and the source address itself.
@public
def metrics() -> Response:
    config = current_app.config
    token = config.get("METRICS_TOKEN")
    if not (_bearer_matches(token) or _from_allowed_network(config.get("METRICS_ALLOWED_NETWORKS", ""))):
        if token:
            return _plain(
                401,
                "Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.",
                {"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return _plain(403, "Metrics are served only to the networks in METRICS_ALLOWED_NETWORKS.")
    response = Response(exposition(), mimetype=None, content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_views(app: Flask) -> None:
    app.register_blueprint(bp)
    limiter = app.extensions.get("seatmeter.limiter")
    if limiter is not None:
        # Probes and scrapes come every few seconds from one address, forever.
        limiter.exempt(bp)
    app.wsgi_app = HealthCheck(app.wsgi_app)  # type: ignore[method-assign]
