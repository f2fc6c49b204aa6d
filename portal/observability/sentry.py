"""Error tracking with Sentry, only when ``SENTRY_DSN`` is set.

The SDK is initialised once per process with its Flask and Celery integrations: an exception in a
view or a task is sent with its stack, the request's method and endpoint, and the task's name.
Personal data stays out (``send_default_pii`` off, the SDK's default): no cookies, no request
bodies, no users' addresses or e-mails leave the installation (a client's people and bills are
personal data).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import sentry_sdk
from flask import Flask
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.flask import FlaskIntegration


def _release() -> str | None:
    try:
        return f"seatmeter@{version('seatmeter')}"
    except PackageNotFoundError:
        return None


def init_sentry(app: Flask) -> bool:
    """Start the SDK when the app has a DSN; True when it did."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration(), CeleryIntegration()],
        environment=app.config.get("SENTRY_ENVIRONMENT", "production"),
        release=_release(),
        # No personal data (send_default_pii): off by default in every 2.x release, and left unset
        # because the newest releases deprecate the option in favour of data_collection.
        # Errors only: performance tracing is a separate decision (volume, cost).
        traces_sample_rate=0.0,
    )
    return True
