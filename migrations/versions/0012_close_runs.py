"""close runs: a month close started from the console, its progress and its outcome

The reseller closes a month from the bill review page; a Celery task does the work in batches and
writes its progress here, so the page can show it. At most one running close per month (a partial
unique index).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0012"
# 0011 may come from another branch: the integrator re-chains this one after it.
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "close_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column(
            "status",
            sa.Enum("running", "finished", "failed", name="closerunstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("clients_total", sa.Integer(), nullable=True),
        sa.Column("clients_done", sa.Integer(), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_by_user_id", sa.Integer(), nullable=True),
        sa.Column("started_by", sa.String(length=300), nullable=False),
        sa.Column("started_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["started_by_user_id"],
            ["users.id"],
            name=op.f("fk_close_runs_started_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_close_runs")),
    )
    op.create_index("ix_close_runs_period", "close_runs", ["period", "id"], unique=False)
    op.create_index(
        "uq_close_runs_running_period",
        "close_runs",
        ["period"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("uq_close_runs_running_period", table_name="close_runs")
    op.drop_index("ix_close_runs_period", table_name="close_runs")
    op.drop_table("close_runs")
