"""stripe credit notes: the id of the Stripe credit note that lowered an open invoice's amount due

Nothing to carry over: credit notes issued before were never passed to Stripe, so the column is
null on every existing row (the card was charged, or will be, as Stripe's invoice says).

Revision ID: 0015_stripe_credit_notes
Revises: 0014_invoice_documents
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_stripe_credit_notes"
down_revision: str | None = "0015_sip_password_reset"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("credit_notes") as batch:
        batch.add_column(sa.Column("stripe_credit_note_id", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_notes") as batch:
        batch.drop_column("stripe_credit_note_id")
