"""provisioning

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provisioning_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seat_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("adapter", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "running",
                "succeeded",
                "retrying",
                "failed",
                "abandoned",
                name="attemptoutcome",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_provisioning_attempts_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["seat_id"], ["seats.id"], name=op.f("fk_provisioning_attempts_seat_id_seats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_attempts")),
    )
    with op.batch_alter_table("provisioning_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provisioning_attempts_client_started", ["client_id", "started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_provisioning_attempts_outcome"), ["outcome"], unique=False)
        batch_op.create_index(
            "ix_provisioning_attempts_seat_started", ["seat_id", "started_at"], unique=False
        )

    with op.batch_alter_table("seats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_end_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("platform_user", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("sweep_after", portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("lease_expires_at", portal.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("attempt_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("secret_ciphertext", sa.Text(), nullable=True))
        batch_op.create_index("ix_seats_sweep_after", ["sweep_after"], unique=False)

    # Seats ordered before provisioning existed: let the first sweep pick them up.
    op.execute("UPDATE seats SET sweep_after = created_at WHERE state NOT IN ('terminated', 'failed')")


def downgrade() -> None:
    with op.batch_alter_table("seats", schema=None) as batch_op:
        batch_op.drop_index("ix_seats_sweep_after")
        batch_op.drop_column("secret_ciphertext")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempt_count")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("sweep_after")
        batch_op.drop_column("platform_user")
        batch_op.drop_column("account_end_user_id")

    with op.batch_alter_table("provisioning_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_provisioning_attempts_seat_started")
        batch_op.drop_index(batch_op.f("ix_provisioning_attempts_outcome"))
        batch_op.drop_index("ix_provisioning_attempts_client_started")

    op.drop_table("provisioning_attempts")
