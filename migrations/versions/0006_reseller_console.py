"""reseller console: a hold on draft invoices, and the SPLA report filed per month

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))
    op.create_table(
        "spla_submissions",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("submitted_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_by_user_id", sa.Integer(), nullable=True),
        sa.Column("submitted_by", sa.String(length=300), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submitted_by_user_id"],
            ["users.id"],
            name=op.f("fk_spla_submissions_submitted_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_spla_submissions")),
    )


def downgrade() -> None:
    op.drop_table("spla_submissions")
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.drop_column("hold_reason")
