"""True-up findings: accounts the platforms have that Seatmeter does not bill (or the other way round).

One finding per (platform, account), kept for good: a re-run updates ``last_seen_at``; a settled or
dismissed finding opens again only when the situation it describes changes (its ``fingerprint``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Client, str_enum
from portal.catalog.models import Product
from portal.db import Base, utcnow
from portal.orders.models import Seat

# The platform name of findings that come from usage events (an RMM, a PSA) rather than an adapter.
USAGE_PLATFORM = "usage"


class FindingKind(enum.StrEnum):
    UNBILLED = "unbilled"  # an account on the platform that no seat explains
    ORPHANED = "orphaned"  # an active (billed) seat whose account the platform does not have
    STATE_DRIFT = "state_drift"  # seat and account disagree: enabled on one, suspended on the other
    EXTERNAL_COUNT = "external_count"  # an outside system reports usage no seat explains

    @property
    def label(self) -> str:
        return {
            "unbilled": "Not billed",
            "orphaned": "Missing on the platform",
            "state_drift": "State differs",
            "external_count": "Reported from outside",
        }[self.value]


class FindingStatus(enum.StrEnum):
    OPEN = "open"
    SETTLED = "settled"
    DISMISSED = "dismissed"


class Settlement(enum.StrEnum):
    ADOPT = "adopt"  # make it a seat of the client, billed from when it was first seen
    REPROVISION = "reprovision"  # make the seat's account again
    ENFORCE = "enforce"  # make the platform match the portal (remove, suspend, enable)
    DISMISS = "dismiss"  # leave it as it is, with a reason
    RESOLVED = "resolved"  # the difference went away by itself (recorded by a run)

    @property
    def label(self) -> str:
        return {
            "adopt": "Adopt as a seat",
            "reprovision": "Provision again",
            "enforce": "Apply the portal's state",
            "dismiss": "Dismiss",
            "resolved": "Resolved by itself",
        }[self.value]


class Finding(Base):
    __tablename__ = "trueup_findings"
    __table_args__ = (
        UniqueConstraint("platform", "account_id"),
        Index("ix_trueup_findings_status_kind", "status", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The adapter's name (workspaces, workmail, kamailio, active_directory) or "usage".
    platform: Mapped[str] = mapped_column(String(32))
    product_kind: Mapped[str] = mapped_column(String(16))
    # The platform's id of the account (for usage: client/product/person).
    account_id: Mapped[str] = mapped_column(String(300))
    kind: Mapped[FindingKind] = mapped_column(str_enum(FindingKind))
    status: Mapped[FindingStatus] = mapped_column(str_enum(FindingStatus), default=FindingStatus.OPEN)
    # What exactly differs; a settled finding opens again when a run finds a different one.
    fingerprint: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text)
    # Whose it is, as far as the platform's naming tells; None with ``unmapped_reason`` otherwise.
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"), index=True)
    unmapped_reason: Mapped[str | None] = mapped_column(Text)
    # The person (lower-cased e-mail / UPN), when known.
    user_key: Mapped[str | None] = mapped_column(String(254))
    # The seat concerned: the seat that drifted, the cancelled seat an account outlived, or the
    # seat an adoption made.
    seat_id: Mapped[int | None] = mapped_column(ForeignKey("seats.id", ondelete="SET NULL"))
    # The product (usage findings, and what an account was adopted as).
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    # What the platform returned for the account, as JSON, from the latest run that saw it.
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    settlement: Mapped[Settlement | None] = mapped_column(str_enum(Settlement))
    settled_by: Mapped[str | None] = mapped_column(String(300))
    settled_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    settled_at: Mapped[datetime | None]
    # Why it was dismissed, or what a person noted.
    reason: Mapped[str | None] = mapped_column(Text)
    # The platform refused an enforcement; the finding is open again with this reason.
    action_error: Mapped[str | None] = mapped_column(Text)

    client: Mapped[Client | None] = relationship()
    seat: Mapped[Seat | None] = relationship()
    product: Mapped[Product | None] = relationship()


class TrueupPolicy(Base):
    """Which kinds of finding are settled without a person, per product.

    An unbilled account is adopted as the product of its kind whose policy says so (one per kind);
    the other kinds follow the policy of the seat's (or the usage's) product.
    """

    __tablename__ = "trueup_policies"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    auto_unbilled: Mapped[bool] = mapped_column(default=False)  # adopt
    auto_orphaned: Mapped[bool] = mapped_column(default=False)  # provision again
    auto_state_drift: Mapped[bool] = mapped_column(default=False)  # apply the portal's state
    auto_external_count: Mapped[bool] = mapped_column(default=False)  # adopt
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship()

    def applies_to(self, kind: FindingKind) -> bool:
        return bool(getattr(self, f"auto_{kind.value}"))


class TrueupRun(Base):
    """One discovery run: when, by whom, what it found, and the platforms it could not read."""

    __tablename__ = "trueup_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    by: Mapped[str] = mapped_column(String(300))
    # {"accounts": n, "new": n, "reopened": n, "resolved": n, "auto_settled": n, "open": n}
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # platform -> why it was not read (not configured, unreachable); its findings were left alone.
    problems: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
