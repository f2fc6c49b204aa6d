"""quickbooks: the QuickBooks Online connection and one record per document sent there

New tables only; nothing existing changes, so there is no data to carry over. Documents issued
before the connection are picked up by the first sync (from the month the reseller chooses).

Revision ID: 0016_quickbooks
Revises: 0016_credit_note_tax
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0016_quickbooks"
# The integrator re-chains this one after the other helpers' migrations (here: after the credits branch's).
down_revision: str | None = "0016_credit_note_tax"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quickbooks_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("realm_id", sa.String(32), nullable=False),
        sa.Column(
            "state",
            sa.Enum("connected", "reconnect", name="connectionstate", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("access_token_sealed", sa.Text(), nullable=False),
        sa.Column("refresh_token_sealed", sa.Text(), nullable=False),
        sa.Column("access_expires_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refresh_expires_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("income_account_id", sa.String(32), nullable=True),
        sa.Column("income_account_name", sa.String(200), nullable=True),
        sa.Column("first_period", sa.String(7), nullable=False),
        sa.Column("connected_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("connected_by", sa.String(300), nullable=False),
        sa.Column("last_run_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quickbooks_connections")),
    )
    op.create_table(
        "quickbooks_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "customer",
                "item",
                "invoice",
                "credit_memo",
                "payment",
                name="recordkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(300), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "done", "failed", "conflict", name="syncstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("qbo_id", sa.String(32), nullable=True),
        sa.Column("sync_token", sa.String(32), nullable=True),
        sa.Column("content_digest", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(50), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "client_id",
            sa.Integer(),
            sa.ForeignKey(
                "clients.id", name=op.f("fk_quickbooks_records_client_id_clients"), ondelete="SET NULL"
            ),
            nullable=True,
        ),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quickbooks_records")),
        sa.UniqueConstraint("kind", "local_id", name=op.f("uq_quickbooks_records_kind_local_id")),
    )


def downgrade() -> None:
    op.drop_table("quickbooks_records")
    op.drop_table("quickbooks_connections")
