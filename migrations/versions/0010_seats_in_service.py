"""seats in service: a ledger interval of a seat may have nobody (the seat bills one unit)

A seat active on its platform with nobody assigned (a VoIP extension works from the start) is a
working service and bills one unit of its product a month. The ledger records it as a seat interval
with no user key. Every interval already in the ledger keeps its person. Seats that are active and
unassigned today start being in service from the upgrade on (months already billed stay as billed).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_SEAT_INDEX = "uq_licence_intervals_open_seat"

intervals = sa.table(
    "licence_intervals",
    sa.column("client_id", sa.Integer()),
    sa.column("product_id", sa.Integer()),
    sa.column("user_key", sa.String(254)),
    sa.column("end_user_id", sa.Integer()),
    sa.column("seat_id", sa.Integer()),
    sa.column("source", sa.String(32)),
    sa.column("start_at", portal.db.UTCDateTime(timezone=True)),
    sa.column("stop_at", portal.db.UTCDateTime(timezone=True)),
    sa.column("created_at", portal.db.UTCDateTime(timezone=True)),
)
seats = sa.table(
    "seats",
    sa.column("id", sa.Integer()),
    sa.column("client_id", sa.Integer()),
    sa.column("product_id", sa.Integer()),
    sa.column("end_user_id", sa.Integer()),
    sa.column("state", sa.String(32)),
)


def _drop_open_seat_index() -> None:
    # Dropped around the table change and made again after it, so that SQLite's copy of the table
    # cannot lose the partial index's WHERE clause.
    op.drop_index(OPEN_SEAT_INDEX, table_name="licence_intervals")


def _create_open_seat_index() -> None:
    op.create_index(
        OPEN_SEAT_INDEX,
        "licence_intervals",
        ["seat_id"],
        unique=True,
        sqlite_where=sa.text("stop_at IS NULL"),
        postgresql_where=sa.text("stop_at IS NULL"),
    )


def upgrade() -> None:
    _drop_open_seat_index()
    with op.batch_alter_table("licence_intervals", schema=None) as batch_op:
        batch_op.alter_column("user_key", existing_type=sa.String(length=254), nullable=True)
        batch_op.create_check_constraint(
            op.f("ck_licence_intervals_person_or_seat"), "user_key IS NOT NULL OR source = 'seat'"
        )
    _create_open_seat_index()

    # Active seats with nobody assigned are in service from now on (they had no interval so far).
    now = datetime.now(UTC)
    bind = op.get_bind()
    counted = sa.select(intervals.c.seat_id).where(
        intervals.c.seat_id.is_not(None), intervals.c.stop_at.is_(None)
    )
    rows = bind.execute(
        sa.select(seats.c.id, seats.c.client_id, seats.c.product_id).where(
            seats.c.state == "active", seats.c.end_user_id.is_(None), seats.c.id.not_in(counted)
        )
    ).all()
    if rows:
        op.bulk_insert(
            intervals,
            [
                {
                    "client_id": client_id,
                    "product_id": product_id,
                    "user_key": None,
                    "end_user_id": None,
                    "seat_id": seat_id,
                    "source": "seat",
                    "start_at": now,
                    "stop_at": None,
                    "created_at": now,
                }
                for seat_id, client_id, product_id in rows
            ],
        )


def downgrade() -> None:
    # The old schema cannot say "a seat with nobody": those intervals go (their months' invoices stay).
    op.execute(sa.delete(intervals).where(intervals.c.user_key.is_(None)))
    _drop_open_seat_index()
    with op.batch_alter_table("licence_intervals", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_licence_intervals_person_or_seat"), type_="check")
        batch_op.alter_column("user_key", existing_type=sa.String(length=254), nullable=False)
    _create_open_seat_index()
