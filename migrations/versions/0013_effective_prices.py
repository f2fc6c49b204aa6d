"""effective prices: a product's price and a licence SKU's cost take effect from a billing month

Every price and cost that exists today is carried over as in force from 2000-01, the start of
history, so every month already billed finds the price it was billed with.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0013"
# 0012 may come from another branch: the integrator re-chains this one after it.
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HISTORY_START = "2000-01"


def upgrade() -> None:
    op.create_table(
        "product_prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.String(length=7), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_product_prices_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_prices_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_prices")),
        sa.UniqueConstraint(
            "product_id", "effective_from", name=op.f("uq_product_prices_product_id_effective_from")
        ),
    )
    op.create_index(op.f("ix_product_prices_product_id"), "product_prices", ["product_id"], unique=False)
    op.create_table(
        "licence_sku_costs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.String(length=7), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_licence_sku_costs_cost_not_negative")),
        sa.ForeignKeyConstraint(
            ["sku_id"],
            ["licence_skus.id"],
            name=op.f("fk_licence_sku_costs_sku_id_licence_skus"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licence_sku_costs")),
        sa.UniqueConstraint(
            "sku_id", "effective_from", name=op.f("uq_licence_sku_costs_sku_id_effective_from")
        ),
    )
    op.create_index(op.f("ix_licence_sku_costs_sku_id"), "licence_sku_costs", ["sku_id"], unique=False)
    # Today's prices and costs, in force from the start of history.
    op.execute(
        sa.text(
            "INSERT INTO product_prices (product_id, effective_from, amount_minor, currency, created_at) "
            "SELECT id, :start, price_minor, currency, updated_at FROM products"
        ).bindparams(start=HISTORY_START)
    )
    op.execute(
        sa.text(
            "INSERT INTO licence_sku_costs (sku_id, effective_from, amount_minor, currency, created_at) "
            "SELECT id, :start, spla_cost_minor, currency, updated_at FROM licence_skus"
        ).bindparams(start=HISTORY_START)
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_licence_sku_costs_sku_id"), table_name="licence_sku_costs")
    op.drop_table("licence_sku_costs")
    op.drop_index(op.f("ix_product_prices_product_id"), table_name="product_prices")
    op.drop_table("product_prices")
