"""rmm integrations: integration tokens, source mappings, usage snapshots; event ids unique per sender

Every usage event stored so far came from the reseller's own tokens or imports, so it is carried
over with the sender ``reseller``: its id stays unique among that sender's, as it was before.

Revision ID: 0014_rmm_integrations
Revises: 0013
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0014_rmm_integrations"
# The integrator re-chains this one after the other helpers' migrations.
down_revision: str | None = "0014_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_TOKEN_RULE = (
    "(role IN ('reseller_admin', 'reseller_staff') AND client_id IS NULL)"
    " OR (role IN ('client_admin', 'client_user') AND client_id IS NOT NULL)"
)
_NEW_TOKEN_RULE = (
    "(role IN ('reseller_admin', 'reseller_staff') AND client_id IS NULL AND integration_id IS NULL)"
    " OR (role IN ('client_admin', 'client_user') AND client_id IS NOT NULL"
    " AND integration_id IS NULL)"
    " OR (role = 'integration' AND client_id IS NULL AND integration_id IS NOT NULL)"
)


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        sa.UniqueConstraint("source", name=op.f("uq_integrations_source")),
    )
    op.create_table(
        "integration_source_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("external_org", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_integration_source_mappings_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_integration_source_mappings_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_source_mappings")),
        sa.UniqueConstraint(
            "integration_id",
            "external_org",
            name=op.f("uq_integration_source_mappings_integration_id_external_org"),
        ),
    )
    op.create_index(
        op.f("ix_integration_source_mappings_client_id"),
        "integration_source_mappings",
        ["client_id"],
        unique=False,
    )
    op.create_table(
        "integration_unmapped_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("external_org", sa.String(length=200), nullable=False),
        sa.Column("first_seen_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("times_seen", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_integration_unmapped_sources_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_unmapped_sources")),
        sa.UniqueConstraint(
            "integration_id",
            "external_org",
            name=op.f("uq_integration_unmapped_sources_integration_id_external_org"),
        ),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("integration_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_api_tokens_role_matches_client"), type_="check")
        batch_op.create_check_constraint("role_matches_scope", _NEW_TOKEN_RULE)
        batch_op.create_foreign_key(
            batch_op.f("fk_api_tokens_integration_id_integrations"),
            "integrations",
            ["integration_id"],
            ["id"],
        )
        batch_op.create_index(batch_op.f("ix_api_tokens_integration_id"), ["integration_id"], unique=False)

    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sender", sa.String(length=64), nullable=False, server_default="reseller")
        )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.alter_column("sender", server_default=None)
        batch_op.drop_constraint(batch_op.f("uq_usage_events_event_id"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_usage_events_sender_event_id"), ["sender", "event_id"]
        )

    op.create_table(
        "usage_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("external_org", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("as_of", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("users", sa.JSON(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("received_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_from", sa.String(length=300), nullable=False),
        sa.CheckConstraint(
            "(users IS NULL AND quantity IS NOT NULL AND quantity >= 0)"
            " OR (users IS NOT NULL AND quantity IS NULL)",
            name=op.f("ck_usage_snapshots_users_or_quantity"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_usage_snapshots_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_usage_snapshots_integration_id_integrations"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_usage_snapshots_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_snapshots")),
        sa.UniqueConstraint(
            "integration_id",
            "external_org",
            "product_id",
            "as_of",
            name=op.f("uq_usage_snapshots_integration_id_external_org_product_id_as_of"),
        ),
    )
    op.create_index(
        "ix_usage_snapshots_client_product_as_of",
        "usage_snapshots",
        ["client_id", "product_id", "as_of"],
        unique=False,
    )
    op.create_table(
        "usage_snapshot_rules",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column(
            "aggregate",
            sa.Enum("peak", "average", name="snapshotaggregate", native_enum=False, length=32),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_usage_snapshot_rules_product_id_products")
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_usage_snapshot_rules")),
    )


def downgrade() -> None:
    op.drop_table("usage_snapshot_rules")
    op.drop_index("ix_usage_snapshots_client_product_as_of", table_name="usage_snapshots")
    op.drop_table("usage_snapshots")
    # Integrations' events go with them: without a sender, their ids could clash with the reseller's.
    op.execute(sa.text("DELETE FROM usage_events WHERE sender <> 'reseller'"))
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_usage_events_sender_event_id"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_usage_events_event_id"), ["event_id"])
        batch_op.drop_column("sender")
    op.execute(sa.text("DELETE FROM api_tokens WHERE role = 'integration'"))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_integration_id"))
        batch_op.drop_constraint(batch_op.f("fk_api_tokens_integration_id_integrations"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("ck_api_tokens_role_matches_scope"), type_="check")
        batch_op.create_check_constraint("role_matches_client", _OLD_TOKEN_RULE)
        batch_op.drop_column("integration_id")
    op.drop_table("integration_unmapped_sources")
    op.drop_index(op.f("ix_integration_source_mappings_client_id"), table_name="integration_source_mappings")
    op.drop_table("integration_source_mappings")
    op.drop_table("integrations")
