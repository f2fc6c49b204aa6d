"""true-ups: findings with evidence, per-product policies, discovery runs, committed-seat contracts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINDING_KINDS = ("unbilled", "orphaned", "state_drift", "external_count")
FINDING_STATUSES = ("open", "settled", "dismissed")
SETTLEMENTS = ("adopt", "reprovision", "enforce", "dismiss", "resolved")


def _enum(name: str, values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def upgrade() -> None:
    op.create_table(
        "trueup_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("product_kind", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=300), nullable=False),
        sa.Column("kind", _enum("findingkind", FINDING_KINDS), nullable=False),
        sa.Column("status", _enum("findingstatus", FINDING_STATUSES), nullable=False),
        sa.Column("fingerprint", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("unmapped_reason", sa.Text(), nullable=True),
        sa.Column("user_key", sa.String(length=254), nullable=True),
        sa.Column("seat_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settlement", _enum("settlement", SETTLEMENTS), nullable=True),
        sa.Column("settled_by", sa.String(length=300), nullable=True),
        sa.Column("settled_by_user_id", sa.Integer(), nullable=True),
        sa.Column("settled_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("action_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_trueup_findings_client_id_clients"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["seat_id"], ["seats.id"], name=op.f("fk_trueup_findings_seat_id_seats"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_trueup_findings_product_id_products"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["settled_by_user_id"],
            ["users.id"],
            name=op.f("fk_trueup_findings_settled_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trueup_findings")),
        sa.UniqueConstraint("platform", "account_id", name=op.f("uq_trueup_findings_platform_account_id")),
    )
    op.create_index(op.f("ix_trueup_findings_client_id"), "trueup_findings", ["client_id"], unique=False)
    op.create_index("ix_trueup_findings_status_kind", "trueup_findings", ["status", "kind"], unique=False)

    op.create_table(
        "trueup_policies",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("auto_unbilled", sa.Boolean(), nullable=False),
        sa.Column("auto_orphaned", sa.Boolean(), nullable=False),
        sa.Column("auto_state_drift", sa.Boolean(), nullable=False),
        sa.Column("auto_external_count", sa.Boolean(), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_trueup_policies_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_trueup_policies")),
    )

    op.create_table(
        "trueup_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("by", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trueup_runs")),
    )
    op.create_index(op.f("ix_trueup_runs_started_at"), "trueup_runs", ["started_at"], unique=False)

    op.create_table(
        "seat_commitments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("starts", sa.String(length=7), nullable=False),
        sa.Column("ends", sa.String(length=7), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_seat_commitments_quantity_positive")),
        sa.CheckConstraint(
            "ends IS NULL OR ends >= starts", name=op.f("ck_seat_commitments_ends_after_starts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_seat_commitments_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_seat_commitments_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_commitments")),
    )
    op.create_index(
        "ix_seat_commitments_client_product", "seat_commitments", ["client_id", "product_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_seat_commitments_client_product", table_name="seat_commitments")
    op.drop_table("seat_commitments")
    op.drop_index(op.f("ix_trueup_runs_started_at"), table_name="trueup_runs")
    op.drop_table("trueup_runs")
    op.drop_table("trueup_policies")
    op.drop_index("ix_trueup_findings_status_kind", table_name="trueup_findings")
    op.drop_index(op.f("ix_trueup_findings_client_id"), table_name="trueup_findings")
    op.drop_table("trueup_findings")
