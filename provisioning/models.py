"""The provisioning attempt log: one row per step a worker took on a seat, kept for the reseller."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import str_enum
from portal.db import Base, utcnow
from portal.orders.models import Seat


class AttemptOutcome(enum.StrEnum):
    RUNNING = "running"  # the platform call is under way (or its worker died; see ABANDONED)
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"  # a retryable error; another attempt is scheduled
    FAILED = "failed"  # a permanent error; the seat is in the failed queue
    ABANDONED = "abandoned"  # the worker stopped before finishing; a later attempt took over


class ProvisioningAttempt(Base):
    __tablename__ = "provisioning_attempts"
    __table_args__ = (
        Index("ix_provisioning_attempts_seat_started", "seat_id", "started_at"),
        Index("ix_provisioning_attempts_client_started", "client_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seat_id: Mapped[int] = mapped_column(ForeignKey("seats.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    action: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int]
    # (seat, action, revision): the same for every retry of one step, sent with the platform call.
    idempotency_key: Mapped[str] = mapped_column(String(100))
    adapter: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[AttemptOutcome] = mapped_column(
        str_enum(AttemptOutcome), default=AttemptOutcome.RUNNING, index=True
    )
    # The platform's error, with secrets redacted.
    error: Mapped[str | None] = mapped_column(Text)

    seat: Mapped[Seat] = relationship()
