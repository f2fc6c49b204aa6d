"""Wiring metering into the application: its pages, Stripe's webhook, and its commands."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect


def init_app(app: Flask) -> None:
    """Register metering's blueprints and CLI groups; called by portal's web wiring after CSRF."""
    from metering.billing.cli import billing_cli
    from metering.billing.views import bp as billing_bp
    from metering.psa.cli import psa_cli
    from metering.usage.cli import usage_cli
    from metering.webhooks.views import bp as webhooks_bp

    app.register_blueprint(billing_bp)
    # Stripe signs its webhooks; there is no browser session to protect with a CSRF token. The
    # CSRFProtect is portal's (its web layer installs it first); found through the app, so that the
    # engine does not import portal's web layer.
    csrf: CSRFProtect = app.extensions["csrf"]
    csrf.exempt(webhooks_bp)
    app.register_blueprint(webhooks_bp)
    app.cli.add_command(billing_cli)
    app.cli.add_command(usage_cli)
    app.cli.add_command(psa_cli)
