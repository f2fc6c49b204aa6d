"""host editions: a licensed host records what it is licensed for and, per month, the VMs it ran

Existing hosts are carried over with the edition their per-core SKU names (a WINSTD… SKU: Windows
Server Standard; SQLENT…: SQL Server Enterprise; SQL…: SQL Server Standard; anything else, e.g.
WINDC-2CORE: Windows Server Datacenter, which counts its cores once like before). No VMs are recorded
for them, so a Standard host owes one licensing of its cores until its VMs are recorded.

Revision ID: 0016_host_editions
Revises: 0016_close_batches
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_host_editions"
# The integrator re-chains this one after the other helpers' migrations.
down_revision: str | None = "0016_close_batches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EDITIONS = ("windows_standard", "windows_datacenter", "sql_standard", "sql_enterprise")


def upgrade() -> None:
    with op.batch_alter_table("licensed_hosts") as batch:
        batch.add_column(
            sa.Column(
                "edition",
                sa.Enum(*EDITIONS, name="hostedition", native_enum=False, length=32),
                nullable=True,
            )
        )
    op.execute(
        """
        UPDATE licensed_hosts SET edition = (
            SELECT CASE
                WHEN upper(licence_skus.code) LIKE 'WINSTD%' THEN 'windows_standard'
                WHEN upper(licence_skus.code) LIKE 'SQLENT%' THEN 'sql_enterprise'
                WHEN upper(licence_skus.code) LIKE 'SQL%' THEN 'sql_standard'
                ELSE 'windows_datacenter'
            END
            FROM licence_skus WHERE licence_skus.id = licensed_hosts.sku_id
        )
        """
    )
    with op.batch_alter_table("licensed_hosts") as batch:
        batch.alter_column(
            "edition",
            existing_type=sa.Enum(*EDITIONS, name="hostedition", native_enum=False, length=32),
            nullable=False,
        )
    op.create_table(
        "host_vms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=True),
        sa.CheckConstraint("vcpus IS NULL OR vcpus > 0", name=op.f("ck_host_vms_positive_vcpus")),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["licensed_hosts.id"],
            name=op.f("fk_host_vms_host_id_licensed_hosts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_vms")),
        sa.UniqueConstraint("host_id", "period", "name", name=op.f("uq_host_vms_host_id_period_name")),
    )
    op.create_index(op.f("ix_host_vms_host_id"), "host_vms", ["host_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_host_vms_host_id"), table_name="host_vms")
    op.drop_table("host_vms")
    with op.batch_alter_table("licensed_hosts") as batch:
        batch.drop_column("edition")
