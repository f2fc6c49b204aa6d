"""``flask --app wsgi metrics serve``: the task figures of a host that runs workers but no portal."""

from __future__ import annotations

import contextlib
import os
import threading

import click
from flask.cli import AppGroup
from prometheus_client import start_wsgi_server

from portal.observability.metrics import process_registry

metrics_cli = AppGroup("metrics", help="Prometheus metrics (docs/observability.md).")


@metrics_cli.command("serve")
@click.option("--port", type=click.IntRange(1, 65535), default=9808, show_default=True)
@click.option(
    "--address",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; the figures carry no personal data but no token guards them.",
)
def serve_command(port: int, address: str) -> None:
    """Serve the figures the host's Celery workers write to PROMETHEUS_MULTIPROC_DIR.

    The portal's /metrics already adds them up on a host that runs both; a host of workers alone
    runs this beside them and Prometheus scrapes it too.
    """
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise click.ClickException(
            "PROMETHEUS_MULTIPROC_DIR is not set: set it, to the same folder, for the workers and for this."
        )
    try:
        start_wsgi_server(port, addr=address, registry=process_registry())
    except OSError as error:
        raise click.ClickException(f"cannot listen on {address}:{port}: {error.strerror}") from None
    click.echo(f"Serving the workers' metrics on http://{address}:{port}/metrics (Ctrl-C stops).")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop it: exit quietly
        threading.Event().wait()
