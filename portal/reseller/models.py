"""What the reseller console records of its own: when each month's SPLA report was filed, and by whom."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base


class SplaSubmission(Base):
    """The month's SPLA report was sent to the distributor (one row per month, never two).

    ``report`` keeps the figures as they were when marked submitted: the ledger can still change
    afterwards (late usage), and the SPLA page then shows what differs from what was filed.
    """

    __tablename__ = "spla_submissions"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # "YYYY-MM"
    submitted_at: Mapped[datetime]
    submitted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The actor's label, kept as text so it still reads well after the user is removed.
    submitted_by: Mapped[str] = mapped_column(String(300))
    # The distributor's confirmation or order number, if it gave one.
    reference: Mapped[str | None] = mapped_column(String(100))
    # [{"client": ref | None, "sku": code, "quantity": n}, ...] as filed.
    report: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
