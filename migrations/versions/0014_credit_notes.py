"""credit notes and payments: credit notes with their lines, carried credit used, payments received

Every invoice already paid gets one payment for its whole total (from Stripe when it has a Stripe
invoice, else "other"), dated the day it was marked paid, so that its balance reads zero as before.

Revision ID: 0014_credit_notes
Revises: 0013
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0014_credit_notes"
down_revision: str | None = "0014_stripe"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column(
            "source",
            sa.Enum("reseller", "month_close", name="creditnotesource", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("open", "refund_due", "settled", name="creditnotestatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "settlement",
            sa.Enum(
                "next_invoice",
                "refund_stripe",
                "refunded_outside",
                name="settlement",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("reduces_invoice_minor", sa.Integer(), nullable=False),
        sa.Column("refund_minor", sa.Integer(), nullable=False),
        sa.Column("carry_minor", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("issued_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=300), nullable=False),
        sa.Column("settled_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stripe_refund_id", sa.String(length=255), nullable=True),
        sa.CheckConstraint(
            "amount_minor = reduces_invoice_minor + refund_minor + carry_minor",
            name=op.f("ck_credit_notes_amount_is_split"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_credit_notes_amount_positive")),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_credit_notes_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_credit_notes_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_notes")),
        sa.UniqueConstraint("sequence", name=op.f("uq_credit_notes_sequence")),
    )
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.create_index("ix_credit_notes_client_status", ["client_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_notes_invoice_id"), ["invoice_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "stripe",
                "transfer",
                "cheque",
                "cash",
                "other",
                name="paymentmethod",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=300), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payments_amount_positive")),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_payments_client_id_clients")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payments_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_client_received", ["client_id", "received_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_invoice_id"), ["invoice_id"], unique=False)

    op.create_table(
        "credit_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credit_note_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("applied_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_credit_applications_amount_positive")),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_credit_applications_credit_note_id_credit_notes"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_credit_applications_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_applications")),
    )
    with op.batch_alter_table("credit_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_applications_credit_note_id"), ["credit_note_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_credit_applications_invoice_id"), ["invoice_id"], unique=False)

    op.create_table(
        "credit_note_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credit_note_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("invoice_line_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_credit_note_lines_credit_note_id_credit_notes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_line_id"],
            ["invoice_lines.id"],
            name=op.f("fk_credit_note_lines_invoice_line_id_invoice_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_note_lines")),
    )
    with op.batch_alter_table("credit_note_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_note_lines_credit_note_id"), ["credit_note_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_credit_note_lines_invoice_line_id"), ["invoice_line_id"], unique=False
        )

    _carry_over_paid_invoices()


def _carry_over_paid_invoices() -> None:
    invoices = sa.table(
        "invoices",
        sa.column("id", sa.Integer()),
        sa.column("client_id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("currency", sa.String()),
        sa.column("total_minor", sa.Integer()),
        sa.column("paid_at", portal.db.UTCDateTime(timezone=True)),
        sa.column("finalized_at", portal.db.UTCDateTime(timezone=True)),
        sa.column("created_at", portal.db.UTCDateTime(timezone=True)),
        sa.column("stripe_invoice_id", sa.String()),
    )
    payments = sa.table(
        "payments",
        sa.column("invoice_id", sa.Integer()),
        sa.column("client_id", sa.Integer()),
        sa.column("method", sa.String()),
        sa.column("amount_minor", sa.Integer()),
        sa.column("currency", sa.String()),
        sa.column("reference", sa.String()),
        sa.column("received_on", sa.Date()),
        sa.column("recorded_at", portal.db.UTCDateTime(timezone=True)),
        sa.column("recorded_by", sa.String()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(invoices).where(invoices.c.status == "paid", invoices.c.total_minor > 0)
    ).all()
    carried = []
    for row in rows:
        paid_at = row.paid_at or row.finalized_at or row.created_at
        carried.append(
            {
                "invoice_id": row.id,
                "client_id": row.client_id,
                "method": "stripe" if row.stripe_invoice_id else "other",
                "amount_minor": row.total_minor,
                "currency": row.currency,
                "reference": row.stripe_invoice_id or "",
                # UTC: the billing time zone is configuration, which a migration does not read.
                "received_on": paid_at.date(),
                "recorded_at": paid_at,
                "recorded_by": "migration 0014 (paid before payments were recorded)",
            }
        )
    if carried:
        op.bulk_insert(payments, carried)


def downgrade() -> None:
    with op.batch_alter_table("credit_note_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_note_lines_invoice_line_id"))
        batch_op.drop_index(batch_op.f("ix_credit_note_lines_credit_note_id"))

    op.drop_table("credit_note_lines")
    with op.batch_alter_table("credit_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_applications_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_credit_applications_credit_note_id"))

    op.drop_table("credit_applications")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_invoice_id"))
        batch_op.drop_index("ix_payments_client_received")

    op.drop_table("payments")
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_notes_invoice_id"))
        batch_op.drop_index("ix_credit_notes_client_status")

    op.drop_table("credit_notes")
