"""``flask --app wsgi psa send YYYY-MM``: send a month finalized before the PSA was set up.

Finalizing records and queues the PSA sync by itself; months finalized while ConnectWise was not
configured (or before a client was mapped) recorded nothing. This records them now, the same way,
and queues them. Running it twice changes nothing: a month's records are made once.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from metering.billing.models import Invoice, InvoiceStatus
from metering.billing.queries import parse_period
from metering.psa.services import PsaNotConfigured, psa_configured, psa_missing_settings, queue_invoice_sync
from portal.db import db
from portal.transactions import cli_command

psa_cli = AppGroup("psa", help="The PSA sync (ConnectWise PSA).")


@psa_cli.command("send")
@click.argument("period")
@cli_command
def send_command(period: str) -> None:
    """Record and queue the PSA sync of PERIOD's finalized invoices (YYYY-MM)."""
    month = parse_period(period)
    if not psa_configured():
        names = ", ".join(name for name, _ in psa_missing_settings())
        raise PsaNotConfigured(f"ConnectWise PSA is not configured: set {names}.")
    invoices = list(
        db.session.scalars(
            select(Invoice)
            .where(Invoice.period == str(month), Invoice.status != InvoiceStatus.DRAFT)
            .order_by(Invoice.id)
        )
    )
    added = queue_invoice_sync(invoices)
    click.echo(f"{month}: {len(invoices)} finalized invoices, {added} new PSA records queued.")
