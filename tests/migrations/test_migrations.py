"""The migrations are the schema: one head, they match the models, and they go down and up."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from portal.cli import alembic_config
from portal.db import Base, build_engine


def test_migrations_have_one_head(database_url):
    heads = ScriptDirectory.from_config(alembic_config(database_url)).get_heads()

    assert len(heads) == 1


def test_migrated_schema_matches_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_downgrade_to_base_and_upgrade_again(scratch_databases):
    url = scratch_databases.create("roundtrip")
    config = alembic_config(url)

    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")

    engine = build_engine(url)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    assert current == ScriptDirectory.from_config(config).get_current_head()
