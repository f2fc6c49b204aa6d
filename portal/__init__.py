"""Seatmeter's portal: the Flask application and the shared kernel the engines build on."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from flask import Flask

from portal.config import ConfigError, load_config

__all__ = ["ConfigError", "__version__", "create_app"]

try:
    # The one place the version is written is pyproject.toml; the installed metadata carries it.
    __version__ = version("seatmeter")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the application. Configuration is read from the environment here, once.

    ``overrides`` wins over the environment; text values go through the same validation as
    environment variables, so a test can check what an operator would see.
    """
    overrides = dict(overrides or {})
    instance_path = Path(
        overrides.pop("INSTANCE_PATH", None) or Path(__file__).resolve().parent.parent / "instance"
    )
    app = Flask(__name__, instance_path=str(instance_path))
    environ = {**os.environ, **{k: v for k, v in overrides.items() if isinstance(v, str)}}
    app.config.update(load_config(environ, instance_path))
    app.config.update(overrides)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tie CSRF tokens to the session, not a clock

    _configure_logging(app)

    from portal.db import Database

    Database().init_app(app)

    from portal.celery_app import celery_init_app

    celery_init_app(app)

    from portal.web import init_web

    init_web(app)

    from portal.cli import init_cli

    init_cli(app)

    from portal.observability import init_app as init_observability

    # Last: /healthz is answered in front of everything registered above.
    init_observability(app)
    return app


def _configure_logging(app: Flask) -> None:
    logger = logging.getLogger("seatmeter")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if app.debug else logging.INFO)
    from portal.web.access_log import RedactOneTimeLinks

    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactOneTimeLinks) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(RedactOneTimeLinks())
