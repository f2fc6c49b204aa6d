"""The shared fixtures' shortcuts (tests/conftest.py) give what the long way gives."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from werkzeug.routing import Rule
from werkzeug.routing.converters import IntegerConverter, UUIDConverter

from portal.cli import alembic_config
from portal.db import build_engine
from tests.conftest import ScratchDatabases


def _sample(converter: object) -> object:
    if isinstance(converter, IntegerConverter):
        return 7
    if isinstance(converter, UUIDConverter):
        return uuid.UUID(int=7)
    return "a b/é"


def test_every_rule_builds_the_urls_its_own_builder_builds(app):
    compile_builder = Rule._compile_builder.__wrapped__
    checked = 0
    for rule in app.url_map.iter_rules():
        values = {name: _sample(converter) for name, converter in rule._converters.items()}
        for append_unknown in (False, True):
            own = compile_builder(rule, append_unknown).__get__(rule)
            shared = rule._build_unknown if append_unknown else rule._build
            assert shared(**values, extra="x&y") == own(**values, extra="x&y"), rule.rule
            checked += 1

    assert checked > 200


def _revision(url: str) -> str | None:
    engine = build_engine(url)
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    return revision


def test_migrated_copies_are_at_the_head_and_apart(scratch_databases: ScratchDatabases, tmp_path: Path):
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    first = scratch_databases.create_migrated("copy_one")
    second = scratch_databases.create_migrated("copy_two")
    on_sqlite = scratch_databases.migrated_sqlite(tmp_path / "copy.sqlite")

    assert [_revision(url) for url in (first, second, on_sqlite)] == [head, head, head]
    engine = build_engine(first)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE only_in_the_first (x INTEGER)"))
    engine.dispose()
    found = []
    for url in (first, second):
        engine = build_engine(url)
        found.append(inspect(engine).has_table("only_in_the_first"))
        engine.dispose()
    assert found == [True, False]
