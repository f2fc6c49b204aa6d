"""``seatmeter backup PATH`` and ``seatmeter restore PATH`` (also ``flask --app wsgi …``)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.backups.services import Installation, restore_backup, write_backup
from portal.errors import ServiceError


def _installation() -> Installation:
    config = current_app.config
    return Installation(
        database_url=config["DATABASE_URL"],
        kamailio_url=config["KAMAILIO_DB_URL"],
        secret_key=config["SECRET_KEY"],
        secret_key_file=Path(current_app.instance_path) / "secret_key",
    )


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(path: Path) -> None:
    """Write the database, the secret key and Kamailio's database to one archive at PATH."""
    try:
        manifest = write_backup(_installation(), path)
    except ServiceError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backup written to {path} (keep it private: it can hold the secret key).")
    click.echo(
        f"  database: {manifest['database']['backend']}, revision {manifest['database']['alembic_revision']}"
    )
    kamailio = manifest["kamailio"]
    click.echo(
        f"  kamailio: {kamailio['backend']}" if kamailio.get("file") else f"  kamailio: {kamailio['note']}"
    )
    secret = manifest["secret_key"]
    click.echo(
        "  secret key: included" if secret["included"] else f"  secret key: not included ({secret['note']})"
    )


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the tables of a database that is not empty.")
@with_appcontext
def restore_command(path: Path, force: bool) -> None:
    """Restore an archive written by `backup` into this installation (stop portal, workers and beat first)."""
    try:
        result = restore_backup(_installation(), path, force=force)
    except ServiceError as error:
        raise click.ClickException(str(error)) from None
    revision = result.manifest["database"]["alembic_revision"]
    click.echo(f"Restored {path} (taken {result.manifest['created_at']}, database revision {revision}).")
    for note in result.notes:
        click.echo(f"  {note}")
    click.echo("Run `seatmeter db upgrade` if this release is newer, then start portal, workers and beat.")
