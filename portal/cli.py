"""Command-line wiring: ``flask --app wsgi <group> <command>``, and the database commands."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError, ProgrammingError

from portal.db import db
from portal.errors import ServiceError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

F = TypeVar("F", bound=Callable[..., Any])


def unit_of_work(func: F) -> F:
    """Run a command as one transaction: commit at the end, plain messages instead of tracebacks."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = func(*args, **kwargs)
            db.session.commit()
            return result
        except ServiceError as error:
            db.session.rollback()
            details = "".join(
                f"\n  {name}: {message}" for name, message in error.fields.items() if message != error.message
            )
            raise click.ClickException(error.message + details) from None
        except (OperationalError, ProgrammingError) as error:
            db.session.rollback()
            if "no such table" in str(error) or "does not exist" in str(error):
                raise click.ClickException(
                    "The database has no tables yet. Run `flask --app wsgi db upgrade` first."
                ) from None
            raise click.ClickException(f"The database refused the change: {error.orig}") from None

    return wrapper  # type: ignore[return-value]


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
    from portal.accounts.cli import tokens_cli, users_cli
    from portal.catalog.cli import catalog_cli
    from portal.demo.cli import demo_command
    from provisioning.trueup.cli import trueup_cli

    for group in (db_cli, users_cli, tokens_cli, catalog_cli, trueup_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo_command)
