"""close batches: a month close fanned out over workers, one task per batch of clients

A close run records how many batches it was split into and which of them are done, so that the
batch that finishes last completes the run. Existing runs were closed in one worker: both columns
stay empty for them, which is what such a run has.

Revision ID: 0016_close_batches
Revises: 0015_placements
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_close_batches"
# The integrator re-chains this one after the other helpers' migrations.
down_revision: str | None = "0016_psa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("close_runs") as table:
        table.add_column(sa.Column("batches_total", sa.Integer(), nullable=True))
        table.add_column(sa.Column("batches_finished", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("close_runs") as table:
        table.drop_column("batches_finished")
        table.drop_column("batches_total")
