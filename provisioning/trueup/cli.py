"""``flask --app wsgi trueup …``: run discovery, list and settle findings, policies and commitments."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from metering import Commitment, add_commitment, end_commitment, list_commitments, parse_period
from portal.accounts.models import EndUser
from portal.accounts.services import get_client_by_ref
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db
from portal.errors import InvalidInput, NotFound
from portal.transactions import cli_command
from provisioning.trueup.models import FindingKind, FindingStatus, Settlement
from provisioning.trueup.platforms import read_platforms
from provisioning.trueup.services import get_finding, list_findings, run_discovery
from provisioning.trueup.settlements import list_policies, proposed, set_policy, settle

trueup_cli = AppGroup("trueup", help="True-ups: accounts the platforms have that nobody bills.")
ACTOR = Actor.system("command line")
_STATUSES = [status.value for status in FindingStatus] + ["all"]
_CHOICES = [s.value for s in Settlement if s is not Settlement.RESOLVED]
_KINDS = [kind.value for kind in FindingKind]


@trueup_cli.command("run")
@cli_command
def run_command() -> None:
    """Read every platform and outside count now, and record what differs (as the nightly run does)."""
    readings = read_platforms()
    run = run_discovery(ACTOR, readings)
    read = ", ".join(f"{r.platform} ({len(r.observed)} accounts)" for r in readings if r.problem is None)
    s = run.summary
    click.echo(f"Read {read or 'no platform'}.")
    click.echo(
        f"{s['new']} new, {s['reopened']} reopened, {s['resolved']} resolved by themselves, "
        f"{s['auto_settled']} settled by policy; {s['open']} open."
    )
    for platform, problem in sorted(run.problems.items()):
        click.echo(f"  not read: {platform}: {problem}", err=True)


@trueup_cli.command("list")
@click.option("--status", type=click.Choice(_STATUSES), default="open", show_default=True)
@click.option("--client", "client_ref", help="Only this client's findings.")
@cli_command
def list_command(status: str, client_ref: str | None) -> None:
    """The findings, newest first, with what is proposed for each open one."""
    client = get_client_by_ref(client_ref) if client_ref else None
    findings = list_findings(None if status == "all" else FindingStatus(status), client)
    if not findings:
        click.echo("No findings.")
    for finding in findings:
        whose = finding.client.ref if finding.client else "client unknown"
        state = finding.status.value
        if finding.status is FindingStatus.OPEN:
            state = f"open, proposed: {proposed(finding).value}"
        elif finding.settlement is not None:
            state = f"{state}: {finding.settlement.value} by {finding.settled_by}"
        click.echo(
            f"#{finding.id} {finding.kind.value} {finding.platform} {finding.account_id} [{whose}] "
            f"({state}); first seen {finding.first_seen_at:%Y-%m-%d %H:%M}, "
            f"last {finding.last_seen_at:%Y-%m-%d %H:%M}\n"
            f"    {finding.summary}"
        )


@trueup_cli.command("settle")
@click.argument("finding_id", type=int)
@click.argument("choice", type=click.Choice(_CHOICES))
@click.option("--product", "product_code", help="Adopt as this product (default: the proposed one).")
@click.option("--end-user", "end_user_email", help="Adopt for this end user of the client (e-mail).")
@click.option("--reason", help="Why (required to dismiss).")
@cli_command
def settle_command(
    finding_id: int, choice: str, product_code: str | None, end_user_email: str | None, reason: str | None
) -> None:
    """Settle FINDING_ID: adopt, reprovision, enforce or dismiss."""
    finding = get_finding(finding_id)
    product = get_product(product_code) if product_code else None
    end_user = None
    if end_user_email:
        if finding.client is None:
            raise InvalidInput("The finding has no client to choose an end user of.")
        end_user = db.session.scalars(
            select(EndUser).where(
                EndUser.client_id == finding.client.id,
                func.lower(EndUser.email) == end_user_email.strip().lower(),
            )
        ).first()
        if end_user is None:
            raise NotFound(f"{finding.client.name} has no end user {end_user_email}.")
    settle(ACTOR, finding, Settlement(choice), product=product, end_user=end_user, reason=reason)
    click.echo(f"Finding #{finding.id}: {finding.status.value} ({Settlement(choice).label}).")


@trueup_cli.command("policy")
@click.argument("product_code")
@click.option("--auto", "kinds", multiple=True, type=click.Choice(_KINDS), help="Settle this kind by itself.")
@cli_command
def policy_command(product_code: str, kinds: tuple[str, ...]) -> None:
    """Which kinds of finding about PRODUCT are settled without a person (none without --auto)."""
    product = get_product(product_code)
    set_policy(ACTOR, product, {FindingKind(kind) for kind in kinds})
    click.echo(f"{product.name}: settled by itself: {', '.join(sorted(kinds)) or 'nothing'}.")


@trueup_cli.command("policies")
@cli_command
def policies_command() -> None:
    """The products whose findings are settled by themselves."""
    policies = [p for p in list_policies() if any(p.applies_to(kind) for kind in FindingKind)]
    for policy in policies:
        kinds = ", ".join(kind.value for kind in FindingKind if policy.applies_to(kind))
        click.echo(f"{policy.product.code}: {kinds}")
    if not policies:
        click.echo("Every finding waits for a person.")


@trueup_cli.command("commit")
@click.argument("client_ref")
@click.argument("product_code")
@click.argument("quantity", type=int)
@click.option("--from", "starts", required=True, help="First month billed (YYYY-MM).")
@click.option("--to", "ends", help="Last month billed (YYYY-MM); open-ended without it.")
@cli_command
def commit_command(client_ref: str, product_code: str, quantity: int, starts: str, ends: str | None) -> None:
    """CLIENT commits to paying for at least QUANTITY seats of PRODUCT each month."""
    commitment = add_commitment(
        ACTOR,
        get_client_by_ref(client_ref),
        get_product(product_code),
        quantity,
        parse_period(starts, "starts"),
        parse_period(ends, "ends") if ends else None,
    )
    click.echo(f"Commitment #{commitment.id}: {_describe(commitment)}.")


@trueup_cli.command("commitments")
@click.option("--client", "client_ref", help="Only this client's.")
@cli_command
def commitments_command(client_ref: str | None) -> None:
    """Every committed-seat contract."""
    commitments = list_commitments(get_client_by_ref(client_ref) if client_ref else None)
    for commitment in commitments:
        click.echo(f"#{commitment.id} {_describe(commitment)}")
    if not commitments:
        click.echo("No commitments.")


@trueup_cli.command("end-commitment")
@click.argument("commitment_id", type=int)
@click.option("--last", "last", required=True, help="Last month billed (YYYY-MM).")
@cli_command
def end_commitment_command(commitment_id: int, last: str) -> None:
    """End a commitment after LAST."""
    commitment = db.session.get(Commitment, commitment_id)
    if commitment is None:
        raise NotFound(f"No commitment #{commitment_id}.")
    end_commitment(ACTOR, commitment, parse_period(last, "ends"))
    click.echo(f"Commitment #{commitment.id}: {_describe(commitment)}.")


def _describe(commitment: Commitment) -> str:
    until = f"to {commitment.ends}" if commitment.ends else "with no end"
    return (
        f"{commitment.client.ref} commits to {commitment.quantity} {commitment.product.code} "
        f"from {commitment.starts} {until}"
    )
