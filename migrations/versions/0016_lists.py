"""lists: a stored case-folded search text for clients and end users; updated_at for API syncs

Search must find any Unicode name on SQLite too, whose LIKE and lower() fold ASCII only; the folded
text is computed in Python (str.casefold) when a name or e-mail is written, so both databases compare
the same thing. Existing rows are carried over: their search text is computed here, and their
updated_at starts as the last change known (a seat's state change, else the creation time).

Revision ID: 0016_lists
Revises: 0016_close_batches
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0016_lists"
# The integrator re-chains this one after the other helpers' migrations.
down_revision: str | None = "0016_sku_part_numbers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fold(text: str) -> str:
    # A copy of portal.listing.fold as it is today: a migration must not change with later code.
    return " ".join(text.casefold().split())


def _fill(table: str, columns: tuple[str, ...]) -> None:
    connection = op.get_bind()
    rows = sa.table(table, sa.column("id", sa.Integer()), *(sa.column(name, sa.String()) for name in columns))
    target = sa.table(table, sa.column("id", sa.Integer()), sa.column("search_text", sa.String()))
    for row in connection.execute(sa.select(rows)).all():
        text = _fold(" ".join(getattr(row, name) or "" for name in columns))
        connection.execute(sa.update(target).where(target.c.id == row.id).values(search_text=text))


def upgrade() -> None:
    for table in ("clients", "end_users"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("search_text", sa.String(length=460), nullable=False, server_default="")
            )
    _fill("clients", ("name", "ref"))
    _fill("end_users", ("name", "email"))
    for table, known in (
        ("clients", "created_at"),
        ("end_users", "created_at"),
        ("seats", "state_changed_at"),
    ):
        # Nullable: SQLite adds a nullable column in place; a NOT NULL one would rebuild the table.
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=True))
        op.execute(f"UPDATE {table} SET updated_at = {known}")  # nosec B608  # names from this file


def downgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35+ and PostgreSQL): a batch rebuild would drop `clients`, which
    # other tables point at, and SQLite refuses that with foreign keys on.
    for table in ("clients", "end_users", "seats"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN updated_at")  # nosec B608  # names from this file
    for table in ("clients", "end_users"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN search_text")  # nosec B608  # names from this file
