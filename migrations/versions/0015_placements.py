"""placements: a product's bill of licences follows the platform it is held on

Licence SKUs get a programme (Microsoft SPLA, or AWS: a cost only, never reported to Microsoft).
A placement is a product on a platform (the adapter that provisions it) with its own bill of
licences, effective from a billing month. Existing data is carried over: every product is placed on
the adapter PROVISIONING_ADAPTERS gives its kind (the variable as set when migrating, else the
default: desktop=workspaces, mailbox=workmail, voip=kamailio; "none" places it nowhere), with its
current SKUs as that placement's bill from the start of history; every existing ledger interval is
recorded as held on that placement; every existing SKU is SPLA.

Revision ID: 0015_placements
Revises: 0014_invoice_documents
Create Date: 2026-11-30
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0015_placements"
# The integrator re-chains this one after the other helpers' migrations.
down_revision: str | None = "0015_notices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HISTORY_START = "2000-01"
DEFAULT_ADAPTERS = {"desktop": "workspaces", "mailbox": "workmail", "voip": "kamailio"}


def adapters_by_kind(raw: str) -> dict[str, str]:
    """PROVISIONING_ADAPTERS as the app reads it ("kind=adapter,..." over the defaults)."""
    adapters = dict(DEFAULT_ADAPTERS)
    for item in filter(None, (part.strip() for part in raw.split(","))):
        kind, _, adapter = (text.strip().lower() for text in item.partition("="))
        if kind in adapters and adapter:
            adapters[kind] = adapter
    return adapters


def upgrade() -> None:
    with op.batch_alter_table("licence_skus") as batch:
        batch.add_column(
            sa.Column(
                "programme",
                sa.Enum("spla", "aws", name="licenceprogramme", native_enum=False, length=32),
                server_default="spla",
                nullable=False,
            )
        )
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("platform", sa.String(length=32), nullable=True))
    with op.batch_alter_table("licence_intervals") as batch:
        batch.add_column(sa.Column("platform", sa.String(length=32), nullable=True))
    op.create_table(
        "product_placements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("effective_from", sa.String(length=7), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_placements_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_placements")),
        sa.UniqueConstraint(
            "product_id",
            "platform",
            "effective_from",
            name=op.f("uq_product_placements_product_id_platform_effective_from"),
        ),
    )
    op.create_index(
        op.f("ix_product_placements_product_id"), "product_placements", ["product_id"], unique=False
    )
    op.create_table(
        "placement_licences",
        sa.Column("placement_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["product_placements.id"],
            name=op.f("fk_placement_licences_placement_id_product_placements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"],
            ["licence_skus.id"],
            name=op.f("fk_placement_licences_sku_id_licence_skus"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("placement_id", "sku_id", name=op.f("pk_placement_licences")),
    )

    connection = op.get_bind()
    adapters = adapters_by_kind(os.environ.get("PROVISIONING_ADAPTERS", ""))
    for kind, adapter in adapters.items():
        if adapter == "none":
            continue
        connection.execute(
            sa.text("UPDATE products SET platform = :platform WHERE kind = :kind"),
            {"platform": adapter, "kind": kind},
        )
    connection.execute(
        sa.text(
            "INSERT INTO product_placements (product_id, platform, effective_from, created_at) "
            "SELECT id, platform, :start, updated_at FROM products WHERE platform IS NOT NULL"
        ),
        {"start": HISTORY_START},
    )
    connection.execute(
        sa.text(
            "INSERT INTO placement_licences (placement_id, sku_id) "
            "SELECT product_placements.id, product_licences.sku_id FROM product_placements "
            "JOIN product_licences ON product_licences.product_id = product_placements.product_id"
        )
    )
    connection.execute(
        sa.text(
            "UPDATE licence_intervals SET platform = "
            "(SELECT products.platform FROM products WHERE products.id = licence_intervals.product_id)"
        )
    )


def downgrade() -> None:
    op.drop_table("placement_licences")
    op.drop_index(op.f("ix_product_placements_product_id"), table_name="product_placements")
    op.drop_table("product_placements")
    with op.batch_alter_table("licence_intervals") as batch:
        batch.drop_column("platform")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("platform")
    with op.batch_alter_table("licence_skus") as batch:
        batch.drop_column("programme")
