"""Wiring provisioning into the application: the provisioning console, true-ups, and their commands."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register provisioning's blueprints and CLI group; called by portal's web wiring."""
    from provisioning.trueup.cli import trueup_cli
    from provisioning.trueup.views import bp as trueup_bp
    from provisioning.views import bp as provisioning_bp

    app.register_blueprint(provisioning_bp)
    # True-ups: accounts the platforms have that nobody bills, and committed-seat contracts.
    app.register_blueprint(trueup_bp)
    app.cli.add_command(trueup_cli)
