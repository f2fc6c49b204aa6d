"""token sources: the addresses each API token has been used from

The first use of a token from a new address is a security event in the audit log. Existing data is
carried over: every (token, address) pair the audit log already shows a token acting from is known,
first seen at its earliest such event, so upgrading does not report every token's usual address as
new.

Revision ID: 0016_token_sources
Revises: 0015_placements
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0016_token_sources"
# The integrator re-chains this one after the other helpers' migrations.
down_revision: str | None = "0016_quickbooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_token_sources",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.Column("first_seen_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_api_token_sources_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "address", name=op.f("pk_api_token_sources")),
    )
    op.execute(
        "INSERT INTO api_token_sources (token_id, address, first_seen_at) "
        "SELECT audit_events.actor_token_id, audit_events.source_address, min(audit_events.at) "
        "FROM audit_events JOIN api_tokens ON api_tokens.id = audit_events.actor_token_id "
        "WHERE audit_events.source_address IS NOT NULL "
        "GROUP BY audit_events.actor_token_id, audit_events.source_address"
    )


def downgrade() -> None:
    op.drop_table("api_token_sources")
