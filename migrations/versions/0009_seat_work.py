"""seat work: the provisioning workers' bookkeeping leaves the kernel's seats table

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns that move, in the order both tables list them.
MOVED = "sweep_after, lease_owner, lease_expires_at, attempt_count, next_attempt_at, secret_ciphertext"


def upgrade() -> None:
    op.create_table(
        "seat_work",
        sa.Column("seat_id", sa.Integer(), nullable=False),
        sa.Column("sweep_after", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("secret_ciphertext", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["seat_id"], ["seats.id"], name=op.f("fk_seat_work_seat_id_seats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seat_id", name=op.f("pk_seat_work")),
    )
    with op.batch_alter_table("seat_work", schema=None) as batch_op:
        batch_op.create_index("ix_seat_work_sweep_after", ["sweep_after"], unique=False)

    # Every seat keeps what the workers knew of it (a lease, a retry, a secret not yet shown).
    op.execute(f"INSERT INTO seat_work (seat_id, {MOVED}) SELECT id, {MOVED} FROM seats")

    # Dropped in place (SQLite 3.35+ has ALTER TABLE DROP COLUMN), never by rebuilding the table:
    # with foreign keys on, SQLite's DROP TABLE of the old copy would delete every row that
    # cascades from a seat (its new seat_work row, its attempts) or fail on those that refer to it.
    with op.batch_alter_table("seats", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_seats_sweep_after")
        batch_op.drop_column("secret_ciphertext")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempt_count")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("sweep_after")


def downgrade() -> None:
    with op.batch_alter_table("seats", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("sweep_after", portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("lease_expires_at", portal.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("attempt_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("secret_ciphertext", sa.Text(), nullable=True))
        batch_op.create_index("ix_seats_sweep_after", ["sweep_after"], unique=False)

    # Back onto the seats; a seat without a row keeps the defaults (nothing under way).
    for column in MOVED.split(", "):
        op.execute(
            f"UPDATE seats SET {column} = "
            f"(SELECT seat_work.{column} FROM seat_work WHERE seat_work.seat_id = seats.id) "
            "WHERE EXISTS (SELECT 1 FROM seat_work WHERE seat_work.seat_id = seats.id)"
        )

    with op.batch_alter_table("seat_work", schema=None) as batch_op:
        batch_op.drop_index("ix_seat_work_sweep_after")

    op.drop_table("seat_work")
