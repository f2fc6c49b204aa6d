"""``flask --app wsgi demo``."""

from __future__ import annotations

import click

from portal.demo.services import load_demo
from portal.transactions import cli_command


@click.command("demo")
@cli_command
def demo_command() -> None:
    """Load demo clients, people and seats (safe to run again)."""
    logins = load_demo()
    click.echo("Demo data loaded. Log in at the portal with:")
    for login in logins:
        click.echo(f"  {login.role:<42} {login.email:<32} password: {login.password}")
