"""Provisioning's own tables: the workers' bookkeeping on each seat, and the attempt log.

The kernel's ``seats`` table says what a seat is and what is wanted of it; how the workers are
getting there (leases, retries, sweep deadlines, a secret waiting to be shown) is provisioning's
business and lives here, one ``seat_work`` row per seat.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, false, select
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from portal.accounts.models import str_enum
from portal.db import Base, db, utcnow
from portal.orders.models import Seat

# Seat ids per query when loading many seats' bookkeeping at once (well under every database's
# limit on bound parameters).
_LOAD_CHUNK = 500


class SeatWork(Base):
    """What the workers keep about one seat. A seat without a row has nothing under way."""

    __tablename__ = "seat_work"
    __table_args__ = (
        # The provisioning sweep reads only seats with work due (sweep_after set and past).
        Index("ix_seat_work_sweep_after", "sweep_after"),
    )

    seat_id: Mapped[int] = mapped_column(ForeignKey("seats.id", ondelete="CASCADE"), primary_key=True)
    # When the sweep should look at the seat again if nothing else moved it; None at rest.
    sweep_after: Mapped[datetime | None]
    # A worker's claim on the seat: one step at a time, even with several workers.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    # Consecutive retryable failures of the current step, for backoff and giving up.
    attempt_count: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    # A generated secret (the SIP password) encrypted until the client admin has seen it once.
    secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    # The client admin asked for a new SIP password; the workers set one and clear this.
    secret_reset_wanted: Mapped[bool] = mapped_column(default=False, server_default=false())

    # The backref is declared here, so the kernel's Seat model knows nothing of provisioning; read
    # and make it through of() / find() below. The row goes with its seat (ON DELETE CASCADE).
    seat: Mapped[Seat] = relationship(backref=backref("work", uselist=False, passive_deletes=True))

    @classmethod
    def of(cls, seat: Seat) -> SeatWork:
        """The seat's bookkeeping, made (saved at the next flush) if it has none yet."""
        work = cls.find(seat)
        if work is None:
            # Defaults now, not at the flush: callers read attempt_count before anything is flushed.
            work = cls(attempt_count=0, secret_reset_wanted=False)
            seat.work = work  # type: ignore[attr-defined]
        return work

    @classmethod
    def find(cls, seat: Seat) -> SeatWork | None:
        """The seat's bookkeeping if it has any (one query the first time, unless loaded)."""
        work: SeatWork | None = seat.work  # type: ignore[attr-defined]
        return work

    @classmethod
    def reload(cls, seat: Seat) -> SeatWork | None:
        """The seat's bookkeeping read again, after an UPDATE that bypassed the session (a lease)."""
        work = db.session.get(cls, seat.id, populate_existing=True)
        cls.attach(seat, work)
        return work

    @classmethod
    def attach(cls, seat: Seat, work: SeatWork | None) -> None:
        """Tell the seat its bookkeeping, loaded by a query of the caller's (a join), so that of()
        and find() need no query of their own."""
        set_committed_value(seat, "work", work)

    @classmethod
    def load_for(cls, seats: Iterable[Seat]) -> None:
        """Load many seats' bookkeeping in a few queries, so find() and of() need none per seat."""
        by_id = {seat.id: seat for seat in seats}
        ids = list(by_id)
        found: dict[int, SeatWork] = {}
        for start in range(0, len(ids), _LOAD_CHUNK):
            chunk = ids[start : start + _LOAD_CHUNK]
            found.update(
                (work.seat_id, work) for work in db.session.scalars(select(cls).where(cls.seat_id.in_(chunk)))
            )
        for seat_id, seat in by_id.items():
            cls.attach(seat, found.get(seat_id))


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
