"""``flask --app wsgi billing …``: month close, finalize, the SPLA report, and per-core hosts."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import AppGroup
from tqdm import tqdm

from metering.billing.finalize import finalize_period
from metering.billing.queries import parse_period
from metering.billing.runs import run_close
from metering.counting import HostEdition
from metering.periods import FIRST_PERIOD, LAST_PERIOD, BillingPeriod
from metering.settings import billing_timezone
from metering.spla.services import (
    add_host,
    aws_cost_report,
    get_host,
    host_packs,
    list_hosts,
    record_host_vms,
    retire_host,
    spla_report,
    spla_report_csv,
)
from portal.accounts.services import get_client_by_ref
from portal.audit.services import Actor
from portal.catalog.services import get_sku
from portal.db import utcnow
from portal.errors import InvalidInput
from portal.transactions import cli_command, cli_transaction

billing_cli = AppGroup("billing", help="Month close, invoices and the SPLA report.")
hosts_cli = AppGroup("hosts", help="The reseller's hosts licensed per core (SPLA per-core SKUs).")
billing_cli.add_command(hosts_cli)

ACTOR = Actor.system("command line")


def _progress(items: Iterable[int]) -> Iterable[int]:
    return tqdm(list(items), unit="client", desc="Closing", file=sys.stderr, dynamic_ncols=True)


@billing_cli.command("close")
@click.argument("period")
@cli_command
def close_command(period: str) -> None:
    """Build (or rebuild) the draft invoice of every client with usage in PERIOD (YYYY-MM)."""
    month = parse_period(period)
    # Each batch of clients is committed on its own, so a failure keeps the drafts already built.
    summary = run_close(ACTOR, month, billing_timezone(), utcnow(), _progress, transaction=cli_transaction)
    counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(summary.outcomes.items()))
    click.echo(f"{month.label}: {summary.clients} clients visited ({counts or 'nothing to bill'}).")
    if summary.failures:
        for ref, problem in sorted(summary.failures.items()):
            click.echo(f"  {ref}: {problem}", err=True)
        raise click.ClickException(
            f"{len(summary.failures)} clients failed; fix them and run the close again (drafts are rebuilt)."
        )


@billing_cli.command("finalize")
@click.argument("period")
@cli_command
def finalize_command(period: str) -> None:
    """Finalize every draft of PERIOD: the invoices are frozen and sent to Stripe for payment."""
    month = parse_period(period)
    count = len(finalize_period(ACTOR, month, billing_timezone(), utcnow()))
    click.echo(f"{month.label}: {count} invoices finalized.")


@billing_cli.command("spla-report")
@click.argument("period")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="CSV file (default: stdout)."
)
@cli_command
def spla_report_command(period: str, output: Path | None) -> None:
    """Export PERIOD's SPLA report as CSV for the distributor (period, SKU, quantity, cost, customer)."""
    report = spla_report(parse_period(period), billing_timezone())
    text = spla_report_csv(report)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8", newline="")
    click.echo(f"{len(report.lines)} lines written to {output}.", err=True)


@billing_cli.command("aws-cost-report")
@click.argument("period")
@cli_command
def aws_cost_report_command(period: str) -> None:
    """Export PERIOD's AWS licence-included costs as CSV (never reported to Microsoft)."""
    click.echo(spla_report_csv(aws_cost_report(parse_period(period), billing_timezone())), nl=False)


def _parse_instant(value: str | None, option: str) -> datetime:
    if value is None:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option}: write a date like 2026-10-01 or 2026-10-01T00:00:00+02:00") from None
    if parsed.tzinfo is None:
        # A bare date or time is read in the billing time zone, like the months themselves.
        parsed = parsed.replace(tzinfo=billing_timezone())
    try:
        instant = parsed.astimezone(UTC)
    except OverflowError:
        instant = None
    # The same months as every other date a person types (parse_period's range).
    if instant is None or not FIRST_PERIOD <= BillingPeriod(instant.year, instant.month) <= LAST_PERIOD:
        raise InvalidInput(f"{option}: choose a date from {FIRST_PERIOD}-01 to {LAST_PERIOD}-31")
    return instant


EDITIONS = {edition.value.replace("_", "-"): edition for edition in HostEdition}


@hosts_cli.command("add")
@click.argument("name")
@click.option(
    "--edition",
    type=click.Choice(list(EDITIONS)),
    help="What the host is licensed for, which decides how its VMs count (default: read from the SKU code).",
)
@click.option("--cores", type=int, required=True, help="Physical cores of the host.")
@click.option("--processors", type=int, required=True, help="Physical processors (sockets).")
@click.option("--sku", required=True, help="Per-core SKU code, e.g. WINDC-2CORE.")
@click.option("--client", "client_ref", help="The client the host is dedicated to, if any.")
@click.option("--from", "from_", help="In service since (default: now), e.g. 2026-10-01.")
@cli_command
def hosts_add(
    name: str,
    edition: str | None,
    cores: int,
    processors: int,
    sku: str,
    client_ref: str | None,
    from_: str | None,
) -> None:
    """Add a host licensed per core."""
    client = get_client_by_ref(client_ref) if client_ref else None
    licence = get_sku(sku)
    host = add_host(
        ACTOR,
        name,
        cores,
        processors,
        licence,
        _parse_instant(from_, "--from"),
        client,
        edition=EDITIONS[edition] if edition else None,
    )
    period = BillingPeriod.containing(utcnow(), billing_timezone())
    click.echo(f"{host.name}: {host_packs(host, period)} two-core packs of {host.sku.code} a month.")
    click.echo(
        f"Licensed as {host.edition.label}"
        + ("" if edition else " (read from the SKU code; --edition chooses)")
        + ". Record the VMs it runs each month with `billing hosts vms`."
    )


def _parse_vm(text: str) -> tuple[str, int | None]:
    name, colon, vcpus = text.rpartition(":")
    if not colon:
        return text, None
    if not vcpus.isdigit():
        raise InvalidInput(f"“{text}”: write a VM as NAME or NAME:VCPUS, like sql-01:4.")
    return name, int(vcpus)


@hosts_cli.command("vms")
@click.argument("name")
@click.argument("period")
@click.argument("vms", nargs=-1)
@cli_command
def hosts_vms(name: str, period: str, vms: tuple[str, ...]) -> None:
    """Record the VMs a host ran in a month (NAME or NAME:VCPUS each; none clears the month).

    Replaces what was recorded for that month. SQL Server hosts need every VM's vCPUs.
    """
    month = parse_period(period)
    host = get_host(name)
    packs = record_host_vms(ACTOR, host, month, [_parse_vm(vm) for vm in vms])
    click.echo(f"{host.name} in {month}: {len(vms)} VMs, {packs} two-core packs of {host.sku.code}.")


@hosts_cli.command("list")
@click.option("--period", help="The month whose packs to show (default: this month), e.g. 2026-10.")
@cli_command
def hosts_list(period: str | None) -> None:
    """Show the hosts, their packs for a month and whether they are in service."""
    month = parse_period(period) if period else BillingPeriod.containing(utcnow(), billing_timezone())
    for host in list_hosts():
        packs = host_packs(host, month)
        until = f"retired {host.retired_at:%Y-%m-%d}" if host.retired_at else "in service"
        owner = host.client.ref if host.client else "shared"
        click.echo(
            f"{host.name:<20} {host.edition.label:<26} {host.physical_cores:>3} cores {host.processors} CPU"
            f" {len(host.vm_vcpus(str(month))):>3} VMs in {month}"
            f"  {packs:>3} x {host.sku.code:<14} {owner:<12} since {host.in_service_from:%Y-%m-%d}, {until}"
        )


@hosts_cli.command("retire")
@click.argument("name")
@click.option("--at", help="Out of service from (default: now).")
@cli_command
def hosts_retire(name: str, at: str | None) -> None:
    """Take a host out of service; months after it owe no packs for it."""
    host = retire_host(ACTOR, get_host(name), _parse_instant(at, "--at"))
    click.echo(f"{host.name} retired at {host.retired_at:%Y-%m-%d %H:%M} UTC.")
