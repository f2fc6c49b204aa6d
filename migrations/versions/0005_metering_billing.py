"""metering billing: usage events, invoices and lines, billing periods and accounts, Stripe events,
per-core hosts; products get a billing mode and unit; ledger intervals get updated_at

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_periods",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("closed_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finalized_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_billing_periods")),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=True),
        sa.Column("received_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_table(
        "billing_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("payment_method_id", sa.String(length=255), nullable=True),
        sa.Column("card_brand", sa.String(length=32), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("suspended_for_nonpayment_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_billing_accounts_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_accounts")),
        sa.UniqueConstraint("client_id", name=op.f("uq_billing_accounts_client_id")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_billing_accounts_stripe_customer_id")),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft", "finalized", "paid", "overdue", name="invoicestatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_minor", sa.Integer(), nullable=False),
        sa.Column("starts_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("built_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finalized_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paid_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("overdue_since", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("payment_error", sa.Text(), nullable=True),
        sa.Column("stripe_invoice_id", sa.String(length=255), nullable=True),
        sa.Column("payment_attempts", sa.Integer(), nullable=False),
        sa.Column("push_lease_until", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_invoices_client_id_clients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("client_id", "period", name=op.f("uq_invoices_client_id_period")),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_invoices_stripe_invoice_id")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index("ix_invoices_period_status", ["period", "status"], unique=False)

    op.create_table(
        "licensed_hosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("physical_cores", sa.Integer(), nullable=False),
        sa.Column("processors", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("in_service_from", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "physical_cores > 0 AND processors > 0", name=op.f("ck_licensed_hosts_positive_counts")
        ),
        sa.CheckConstraint(
            "retired_at IS NULL OR retired_at > in_service_from",
            name=op.f("ck_licensed_hosts_retired_after_start"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_licensed_hosts_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["licence_skus.id"], name=op.f("fk_licensed_hosts_sku_id_licence_skus")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licensed_hosts")),
        sa.UniqueConstraint("name", name=op.f("uq_licensed_hosts_name")),
    )
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("user_key", sa.String(length=254), nullable=True),
        sa.Column(
            "action",
            sa.Enum("start", "stop", "usage", name="usageaction", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("received_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_from", sa.String(length=300), nullable=False),
        sa.CheckConstraint(
            "(action = 'usage' AND quantity IS NOT NULL AND quantity > 0) OR (action IN ('start', 'stop') AND quantity IS NULL AND user_key IS NOT NULL)",
            name=op.f("ck_usage_events_action_fields"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_usage_events_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_usage_events_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_usage_events_event_id")),
    )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.create_index("ix_usage_events_action_at", ["action", "at"], unique=False)
        batch_op.create_index(
            "ix_usage_events_key", ["client_id", "product_id", "user_key", "at"], unique=False
        )
        batch_op.create_index("ix_usage_events_received_at", ["received_at"], unique=False)

    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("regular", "adjustment", name="linekind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_amount_minor", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "amount_minor = quantity * unit_amount_minor",
            name=op.f("ck_invoice_lines_amount_is_quantity_times_unit"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_lines_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_invoice_lines_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
    )
    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoice_lines_invoice_id"), ["invoice_id"], unique=False)

    # Plain ALTER TABLE: batch mode would rebuild the ledger table on SQLite (and its partial index).
    op.add_column(
        "licence_intervals", sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_licence_intervals_created_at", "licence_intervals", ["created_at"], unique=False)
    op.create_index("ix_licence_intervals_updated_at", "licence_intervals", ["updated_at"], unique=False)
    op.add_column(
        "products",
        sa.Column(
            "billing",
            sa.Enum("per_user", "metered", name="productbilling", native_enum=False, length=32),
            server_default="per_user",
            nullable=False,
        ),
    )
    op.add_column("products", sa.Column("unit", sa.String(length=32), server_default="user", nullable=False))


def downgrade() -> None:
    op.drop_column("products", "unit")
    op.drop_column("products", "billing")
    op.drop_index("ix_licence_intervals_updated_at", table_name="licence_intervals")
    op.drop_index("ix_licence_intervals_created_at", table_name="licence_intervals")
    op.drop_column("licence_intervals", "updated_at")

    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_lines_invoice_id"))

    op.drop_table("invoice_lines")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_events_received_at")
        batch_op.drop_index("ix_usage_events_key")
        batch_op.drop_index("ix_usage_events_action_at")

    op.drop_table("usage_events")
    op.drop_table("licensed_hosts")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_period_status")

    op.drop_table("invoices")
    op.drop_table("billing_accounts")
    op.drop_table("stripe_events")
    op.drop_table("billing_periods")
