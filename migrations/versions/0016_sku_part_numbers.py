"""sku part numbers: a licence SKU carries Microsoft's part number for the distributor's report

Existing SKUs keep everything; the seed's SKUs whose part number is known get it (WINRDS-SAL:
6WC-00002, WINSTD-2CORE: 9EM-00562); every other SKU has none until the reseller sets it
(`catalog set-part-number`).

Revision ID: 0016_sku_part_numbers
Revises: 0016_host_editions
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_sku_part_numbers"
# The integrator re-chains this one after the other helpers' migrations.
down_revision: str | None = "0016_host_editions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KNOWN = {"WINRDS-SAL": "6WC-00002", "WINSTD-2CORE": "9EM-00562"}


def upgrade() -> None:
    with op.batch_alter_table("licence_skus") as batch:
        batch.add_column(sa.Column("part_number", sa.String(length=20), nullable=True))
    skus = sa.table("licence_skus", sa.column("code", sa.String), sa.column("part_number", sa.String))
    for code, part_number in KNOWN.items():
        op.execute(skus.update().where(skus.c.code == code).values(part_number=part_number))


def downgrade() -> None:
    with op.batch_alter_table("licence_skus") as batch:
        batch.drop_column("part_number")
