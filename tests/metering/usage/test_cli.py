"""``flask --app wsgi usage import FILE.jsonl``: the usage-events API from a file, all or nothing."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from metering.usage.models import UsageEvent
from portal.db import db
from tests.metering.months import event


def _write(path, events: list[dict], extra: str = "") -> str:
    path.write_text("\n".join(json.dumps(item) for item in events) + "\n" + extra, encoding="utf-8")
    return str(path)


def test_import_a_file_then_again_as_duplicates(runner, month, make_client, tmp_path):
    make_client("acme")
    events = [
        event("i-1", "acme", "alice@acme.example", "desktop", "start", "2026-10-01T09:00:00Z"),
        event("i-2", "acme", "alice@acme.example", "desktop", "stop", "2026-10-09T09:00:00-05:00"),
        event("i-3", "acme", None, "voip-minutes", "usage", "2026-10-02T09:00:00Z", quantity=7),
    ]
    path = _write(tmp_path / "usage.jsonl", events, extra="\n")

    first = runner.invoke(args=["usage", "import", path])
    again = runner.invoke(args=["usage", "import", path])

    assert first.exit_code == 0, first.output
    assert "3 events imported, 0 duplicates skipped." in first.output
    assert "0 events imported, 3 duplicates skipped." in again.output


def test_a_bad_line_imports_nothing_and_names_the_line(runner, month, make_client, tmp_path):
    make_client("acme")
    events = [
        event("i-1", "acme", "alice@acme.example", "desktop", "start", "2026-10-01T09:00:00Z"),
        event("i-2", "acme", "alice@acme.example", "desktop", "start", "2026-10-01 09:00"),
    ]
    path = _write(tmp_path / "usage.jsonl", events)

    result = runner.invoke(args=["usage", "import", path])

    assert result.exit_code == 1
    assert "line 2: event 'i-2': “at” '2026-10-01 09:00' has no UTC offset" in result.output
    assert db.session.scalar(select(func.count()).select_from(UsageEvent)) == 0


def test_a_line_that_is_not_json(runner, month, tmp_path):
    path = tmp_path / "usage.jsonl"
    path.write_text('{"id": "x"}\nnot json\n', encoding="utf-8")

    result = runner.invoke(args=["usage", "import", str(path)])

    assert result.exit_code == 1
    assert "line 2: not JSON" in result.output
