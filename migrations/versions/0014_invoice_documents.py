"""invoice documents: the reseller's profile, clients' billing details, tax rates, due dates

Existing data is carried over: the reseller keeps its name and support e-mail and gets payment terms
of 14 days and no prefix; every invoice's subtotal is its total and its tax zero (no tax was
charged before); a finalized invoice is due 14 days after the day it was finalized (UTC), which is
what the default terms give; its number keeps its old form (no prefix); it has no snapshot of the
parties (``parties`` is null), so it prints the profiles as they are now.

Revision ID: 0014_invoice_documents
Revises: 0014_two_factor
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0014_invoice_documents"
# Chained after the work merged before it (stripe, credit notes, two-factor); the integrator may re-chain it.
down_revision: str | None = "0014_rmm_integrations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CARRIED_OVER_TERMS_DAYS = 14


def upgrade() -> None:
    with op.batch_alter_table("resellers") as batch:
        batch.add_column(sa.Column("address", sa.Text(), nullable=True))
        batch.add_column(sa.Column("tax_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("support_phone", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("payment_instructions", sa.Text(), nullable=True))
        batch.add_column(sa.Column("invoice_prefix", sa.String(length=16), server_default="", nullable=False))
        batch.add_column(
            sa.Column(
                "payment_terms_days",
                sa.Integer(),
                server_default=str(CARRIED_OVER_TERMS_DAYS),
                nullable=False,
            )
        )
        batch.add_column(sa.Column("logo", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("logo_mimetype", sa.String(length=16), nullable=True))
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("billing_address", sa.Text(), nullable=True))
        batch.add_column(sa.Column("extra_billing_emails", sa.Text(), nullable=True))
        batch.add_column(sa.Column("tax_id", sa.String(length=64), nullable=True))
    op.create_table(
        "tax_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("rate_ppm", sa.Integer(), nullable=False),
        sa.Column("inclusive", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=100), nullable=False),
        sa.Column("stripe_tax_rate_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rate_ppm >= 0 AND rate_ppm <= 1000000", name=op.f("ck_tax_rates_rate_is_a_percentage")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rates")),
    )
    op.create_table(
        "client_taxes",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("tax_rate_id", sa.Integer(), nullable=True),
        sa.Column("exempt", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("exemption_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_taxes_client_id_clients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tax_rate_id"],
            ["tax_rates.id"],
            name=op.f("fk_client_taxes_tax_rate_id_tax_rates"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_taxes")),
    )
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("subtotal_minor", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("tax_minor", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("due_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("number_prefix", sa.String(length=16), server_default="", nullable=False))
        batch.add_column(sa.Column("parties", sa.JSON(), nullable=True))
    with op.batch_alter_table("invoice_lines") as batch:
        batch.add_column(sa.Column("tax_minor", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("tax_rate_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tax_name", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("tax_rate_ppm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tax_inclusive", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.create_foreign_key(
            op.f("fk_invoice_lines_tax_rate_id_tax_rates"),
            "tax_rates",
            ["tax_rate_id"],
            ["id"],
            ondelete="SET NULL",
        )

    invoices = sa.table(
        "invoices",
        sa.column("id", sa.Integer()),
        sa.column("total_minor", sa.Integer()),
        sa.column("subtotal_minor", sa.Integer()),
        sa.column("finalized_at", portal.db.UTCDateTime(timezone=True)),
        sa.column("due_on", sa.Date()),
    )
    bind = op.get_bind()
    op.execute(invoices.update().values(subtotal_minor=invoices.c.total_minor))
    finalized = bind.execute(
        sa.select(invoices.c.id, invoices.c.finalized_at).where(invoices.c.finalized_at.is_not(None))
    ).all()
    from datetime import timedelta

    for invoice_id, finalized_at in finalized:
        due = finalized_at.date() + timedelta(days=CARRIED_OVER_TERMS_DAYS)
        bind.execute(invoices.update().where(invoices.c.id == invoice_id).values(due_on=due))


def downgrade() -> None:
    # Plain column drops (SQLite 3.35+ and PostgreSQL drop in place): a batch copy of a table that
    # other tables reference would fail on SQLite's foreign keys once it holds rows.
    with op.batch_alter_table("invoice_lines") as batch:
        batch.drop_constraint(op.f("fk_invoice_lines_tax_rate_id_tax_rates"), type_="foreignkey")
        for column in ("tax_inclusive", "tax_rate_ppm", "tax_name", "tax_rate_id", "tax_minor"):
            batch.drop_column(column)
    for column in ("parties", "number_prefix", "due_on", "tax_minor", "subtotal_minor"):
        op.drop_column("invoices", column)
    op.drop_table("client_taxes")
    op.drop_table("tax_rates")
    for column in ("tax_id", "extra_billing_emails", "billing_address"):
        op.drop_column("clients", column)
    for column in (
        "logo_mimetype",
        "logo",
        "payment_terms_days",
        "invoice_prefix",
        "payment_instructions",
        "support_phone",
        "tax_id",
        "address",
    ):
        op.drop_column("resellers", column)
