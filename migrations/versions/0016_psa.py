"""psa: clients and products mapped to a PSA, and one sync record per client, product and month

New tables only: no existing row changes. Nothing is mapped after the upgrade, so nothing is sent to
a PSA until the reseller maps clients and products.

Revision ID: 0016_psa
Revises: 0015_placements
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0016_psa"
# The integrator re-chains this one after the other helpers' migrations.
down_revision: str | None = "0016_token_sources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "psa_company_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("company_name", sa.String(length=200), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("agreement_name", sa.String(length=200), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_psa_company_links_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psa_company_links")),
        sa.UniqueConstraint("client_id", name=op.f("uq_psa_company_links_client_id")),
    )
    op.create_table(
        "psa_product_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("catalog_item_id", sa.Integer(), nullable=True),
        sa.Column("catalog_item_name", sa.String(length=200), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_psa_product_links_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psa_product_links")),
        sa.UniqueConstraint("product_id", name=op.f("uq_psa_product_links_product_id")),
    )
    op.create_table(
        "psa_syncs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending", "done", "failed", "conflict", name="psasyncstate", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("addition_id", sa.Integer(), nullable=True),
        sa.Column("psa_quantity", sa.Integer(), nullable=True),
        sa.Column("overwrite", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("synced_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_psa_syncs_client_id_clients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_psa_syncs_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psa_syncs")),
        sa.UniqueConstraint(
            "client_id", "product_id", "period", name=op.f("uq_psa_syncs_client_id_product_id_period")
        ),
    )
    op.create_index("ix_psa_syncs_state", "psa_syncs", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_psa_syncs_state", table_name="psa_syncs")
    op.drop_table("psa_syncs")
    op.drop_table("psa_product_links")
    op.drop_table("psa_company_links")
