"""``flask --app wsgi usage import FILE.jsonl``: the usage-events API, from a file.

One event per line, in the API's format. The whole file is one batch: all or nothing, duplicates by
event id (so the same file can be imported twice), one error per bad line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from metering.usage.services import ingest_usage_events
from portal.audit.services import Actor
from portal.errors import InvalidInput
from portal.transactions import cli_command

usage_cli = AppGroup("usage", help="Usage events from outside systems.")


def _read_lines(path: Path) -> tuple[list[Any], list[int], dict[str, str]]:
    events: list[Any] = []
    line_numbers: list[int] = []
    problems: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                events.append(json.loads(text))
            except json.JSONDecodeError as error:
                problems[f"line {number}"] = f"not JSON: {error.msg}"
                continue
            line_numbers.append(number)
    return events, line_numbers, problems


@usage_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@cli_command
def import_command(file: Path) -> None:
    """Import usage events from FILE (JSON Lines), all or nothing."""
    events, line_numbers, problems = _read_lines(file)
    if problems:
        raise InvalidInput(
            f"{len(problems)} lines of {file.name} are not JSON; nothing was imported.", fields=problems
        )
    result = ingest_usage_events(
        Actor.system(f"usage import {file.name}"),
        events,
        label=lambda index: f"line {line_numbers[index]}",
        max_batch=None,
    )
    click.echo(f"{result.accepted} events imported, {result.duplicates} duplicates skipped.")
