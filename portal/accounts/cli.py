"""``flask --app wsgi users …`` and ``flask --app wsgi tokens …``."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from portal.accounts.integration_services import (
    create_integration,
    get_integration_by_source,
    list_integrations,
    map_source,
    source_mappings,
    unmap_source,
    unmapped_sources,
)
from portal.accounts.models import ApiToken, Role, User
from portal.accounts.services import (
    create_user_with_password,
    ensure_reseller,
    get_client_by_ref,
    normalize_email,
)
from portal.accounts.token_services import create_api_token, revoke_api_token
from portal.audit.services import Actor
from portal.db import db
from portal.errors import NotFound
from portal.transactions import cli_command

users_cli = AppGroup("users", help="Portal users.")
tokens_cli = AppGroup("tokens", help="API tokens for automation (RMM, PSA, scripts).")
integrations_cli = AppGroup(
    "integrations", help="Outside tools that report usage (RMM, PSA) and their organisation ids."
)

CLI_ACTOR = Actor.system("command line")


@users_cli.command("create-admin")
@click.option("--email", required=True, help="The administrator's e-mail, used to log in.")
@click.option("--name", default="", help="Display name (defaults to the e-mail).")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when not given (at least 12 characters).",
)
@cli_command
def create_admin(email: str, name: str, password: str) -> None:
    """Create a reseller administrator."""
    ensure_reseller()
    user = create_user_with_password(CLI_ACTOR, email, name, Role.RESELLER_ADMIN, None, password)
    click.echo(f"Created reseller administrator {user.email}.")


@tokens_cli.command("create")
@click.option(
    "--role", required=True, type=click.Choice([role.value for role in Role]), help="What the token may do."
)
@click.option("--client", "client_ref", help="The client's reference (client roles only).")
@click.option(
    "--integration", "source", help="The integration's source name (role integration only), e.g. ninjaone."
)
@click.option("--name", required=True, help="What uses the token, e.g. 'RMM nightly sync'.")
@click.option(
    "--user", "user_email", help="The portal user it belongs to (a client_user token sees their seats)."
)
@cli_command
def create_token(
    role: str, client_ref: str | None, source: str | None, name: str, user_email: str | None
) -> None:
    """Create an API token; the token is printed once, alone on the last line."""
    client = get_client_by_ref(client_ref) if client_ref else None
    integration = get_integration_by_source(source) if source else None
    owner = None
    if user_email:
        owner = db.session.scalars(select(User).where(User.email == normalize_email(user_email))).first()
        if owner is None:
            raise NotFound(f"No portal user with the e-mail {user_email}.")
    token, raw = create_api_token(CLI_ACTOR, name, Role(role), client, owner, integration=integration)
    if token.role is Role.CLIENT_USER and owner is None:
        click.echo("Note: this client_user token has no --user, so it sees no seats.", err=True)
    scope = f"client {client.ref}" if client else "all clients"
    if integration is not None:
        scope = f"usage of the clients mapped to {integration.source}"
    click.echo(f"Created API token #{token.id} “{token.name}” ({role}, {scope}). It is shown only once:")
    click.echo(raw)


@tokens_cli.command("list")
@cli_command
def list_tokens() -> None:
    """List API tokens (never the tokens themselves)."""
    tokens = db.session.scalars(select(ApiToken).order_by(ApiToken.id))
    for token in tokens:
        scope = token.client.ref if token.client else "*"
        if token.integration is not None:
            scope = f"integration {token.integration.source}"
        status = "revoked" if token.revoked_at else "active"
        used = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never"
        click.echo(
            f"#{token.id}\t{token.token_prefix}…\t{token.role.value}\t{scope}\t{status}\tused {used}"
            f"\t{token.name}"
        )


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
@cli_command
def revoke_token(token_id: int) -> None:
    """Revoke the token with this number (see `tokens list`)."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"No API token #{token_id}.")
    revoke_api_token(CLI_ACTOR, token)
    click.echo(f"Revoked API token #{token_id}.")


@integrations_cli.command("add")
@click.argument("source")
@click.option("--name", required=True, help="Which tool it is, e.g. 'NinjaOne RMM'.")
@cli_command
def add_integration(source: str, name: str) -> None:
    """Add an integration; its snapshots name it as SOURCE (e.g. ninjaone)."""
    integration = create_integration(CLI_ACTOR, source, name)
    click.echo(
        f"Added integration {integration.source} ({integration.name}). Create its token with "
        f"`tokens create --role integration --integration {integration.source} --name …`."
    )


@integrations_cli.command("list")
@cli_command
def list_integrations_command() -> None:
    """List integrations with their mapped and unmapped organisation ids."""
    for integration in list_integrations():
        mapped = source_mappings(integration)
        waiting = unmapped_sources(integration)
        click.echo(f"{integration.source}\t{integration.name}\t{len(mapped)} mapped\t{len(waiting)} unmapped")
        for mapping in mapped:
            click.echo(f"  {mapping.external_org} -> {mapping.client.ref}")
        for row in waiting:
            click.echo(f"  {row.external_org} -> (unmapped, seen {row.times_seen}x)")


@integrations_cli.command("map")
@click.argument("source")
@click.argument("external_org")
@click.argument("client_ref")
@cli_command
def map_command(source: str, external_org: str, client_ref: str) -> None:
    """Map the tool's organisation or site id EXTERNAL_ORG to the client CLIENT_REF."""
    mapping = map_source(
        CLI_ACTOR, get_integration_by_source(source), external_org, get_client_by_ref(client_ref)
    )
    click.echo(f"{source}: {mapping.external_org} -> {mapping.client.ref}")


@integrations_cli.command("unmap")
@click.argument("source")
@click.argument("external_org")
@cli_command
def unmap_command(source: str, external_org: str) -> None:
    """Forget EXTERNAL_ORG's mapping; new usage for it is refused until it is mapped again."""
    unmap_source(CLI_ACTOR, get_integration_by_source(source), external_org)
    click.echo(f"{source}: {external_org} is no longer mapped.")
