"""Command-line wiring: ``seatmeter <group> <command>`` (or ``flask --app wsgi …``), database commands."""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


db_cli = AppGroup("db", help="Database schema migrations (Alembic).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    command.upgrade(alembic_config(current_app.config["DATABASE_URL"]), revision)
    click.echo(f"Database upgraded to {revision}.")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Undo migrations down to REVISION (e.g. -1 or base)."""
    command.downgrade(alembic_config(current_app.config["DATABASE_URL"]), revision)


@db_cli.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    command.current(alembic_config(current_app.config["DATABASE_URL"]), verbose=False)


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option("--autogenerate/--empty", default=True, help="Compare the models with the database.")
@click.option("--rev-id", default=None, help="The revision id (default: random), e.g. 0002.")
def db_revision(message: str, autogenerate: bool, rev_id: str | None) -> None:
    """Write a new migration file (review it before committing)."""
    command.revision(
        alembic_config(current_app.config["DATABASE_URL"]),
        message=message,
        autogenerate=autogenerate,
        rev_id=rev_id,
    )


def init_cli(app: Flask) -> None:
    from portal.accounts.cli import integrations_cli, tokens_cli, users_cli
    from portal.backups.cli import backup_command, restore_command
    from portal.catalog.cli import catalog_cli
    from portal.demo.cli import demo_command

    # The engines add their own groups (trueup, billing, usage) in their init_app.
    for group in (db_cli, users_cli, tokens_cli, integrations_cli, catalog_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


def main() -> None:
    """The ``seatmeter`` console script: Flask's command line for this application, no ``--app`` needed.

    ``seatmeter db upgrade``, ``seatmeter billing close 2026-10``: the same commands as ``flask --app
    wsgi …``, configured from the environment in the same way.
    """
    from portal import __version__, create_app

    cli = FlaskGroup(
        name="seatmeter",
        help="Seatmeter's command line. Settings come from the environment (docs/configuration.md).",
        create_app=lambda: create_app(),
        add_version_option=False,
        # A .env file is the developer's; an installation is configured by its environment only.
        load_dotenv=False,
    )
    click.version_option(__version__, "--version", prog_name="seatmeter", message="%(prog)s %(version)s")(cli)
    cli.main(prog_name="seatmeter")
