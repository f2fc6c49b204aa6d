"""`make run`'s data step in one process: migrations to the newest, then the demo data.

The same as ``flask db upgrade`` followed by ``flask catalog seed`` and ``flask demo`` (the demo seeds
the catalog itself), in one interpreter instead of three: importing the application is most of the
time each of those takes.
"""

from __future__ import annotations

import sys

import click
from alembic import command

from portal import create_app
from portal.cli import alembic_config
from portal.demo.services import load_demo
from portal.transactions import cli_transaction


def main() -> int:
    app = create_app()
    command.upgrade(alembic_config(app.config["DATABASE_URL"]), "head")
    print("Database upgraded to head.", flush=True)
    try:
        with app.app_context(), cli_transaction():
            load_demo()
    except click.ClickException as error:
        print(f"The demo data could not be loaded: {error.format_message()}", file=sys.stderr)
        return 1
    finally:
        app.extensions["seatmeter.db"].engine.dispose()
    print("Demo data loaded.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
