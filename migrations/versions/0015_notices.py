"""e-mail notices: the notices sent (once per event and recipient) and the opt-outs

New tables only; nothing existing changes, so there is no data to carry over.

Revision ID: 0015_notices
Revises: 0014_invoice_documents
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0015_notices"
down_revision: str | None = "0015_stripe_credit_notes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KIND = sa.Enum(
    "order_placed",
    "seat_ready",
    "seat_failed",
    "seat_failed_details",
    "invoice_issued",
    "suspended",
    "resumed",
    "spla_due",
    "spla_overdue",
    name="noticekind",
    native_enum=False,
    length=32,
)


def upgrade() -> None:
    op.create_table(
        "sent_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_message_id", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("kind", _KIND, nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("sent_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_notices")),
        sa.UniqueConstraint(
            "event_message_id",
            "recipient",
            "kind",
            name=op.f("uq_sent_notices_event_message_id_recipient_kind"),
        ),
    )
    op.create_index(
        op.f("ix_sent_notices_event_message_id"), "sent_notices", ["event_message_id"], unique=False
    )
    op.create_table(
        "notice_opt_outs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("kind", _KIND, nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_opt_outs")),
        sa.UniqueConstraint("email", "kind", name=op.f("uq_notice_opt_outs_email_kind")),
    )


def downgrade() -> None:
    op.drop_table("notice_opt_outs")
    op.drop_index(op.f("ix_sent_notices_event_message_id"), table_name="sent_notices")
    op.drop_table("sent_notices")
