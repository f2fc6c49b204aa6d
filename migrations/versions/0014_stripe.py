"""stripe: void and uncollectible invoices, the hosted invoice link, the payment retry schedule

New invoice statuses (needs_authentication, void, uncollectible) need no schema change: the status
is a plain string column. Existing invoices keep their status; an overdue invoice gets no retry
scheduled (it is collected as before: a new card, or the reseller's action).

Revision ID: 0014_stripe
Revises: 0013
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0014_stripe"
# The integrator re-chains this one after the other branches' migrations.
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voided_at", portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("uncollectible_at", portal.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("stripe_hosted_invoice_url", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("next_payment_retry_at", portal.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    # Statuses this revision introduced have no meaning before it: they go back to the nearest old one.
    op.execute(
        "UPDATE invoices SET status = 'overdue' WHERE status IN ('needs_authentication', 'uncollectible')"
    )
    op.execute("UPDATE invoices SET status = 'paid' WHERE status = 'void'")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("next_payment_retry_at")
        batch_op.drop_column("stripe_hosted_invoice_url")
        batch_op.drop_column("uncollectible_at")
        batch_op.drop_column("voided_at")
