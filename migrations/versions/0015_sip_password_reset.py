"""sip password reset: a seat's bookkeeping remembers that a new phone password was asked for

Existing data is carried over: no seat has a reset waiting (the column defaults to false).

Revision ID: 0015_sip_password_reset
Revises: 0014_invoice_documents
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_sip_password_reset"
down_revision: str | None = "0014_invoice_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("seat_work") as batch:
        batch.add_column(
            sa.Column("secret_reset_wanted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("seat_work") as batch:
        batch.drop_column("secret_reset_wanted")
