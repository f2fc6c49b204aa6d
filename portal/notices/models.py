"""Notices sent (one row per event and recipient: a notice goes out once) and who opted out of what."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.accounts.models import str_enum
from portal.db import Base, utcnow


class NoticeKind(enum.StrEnum):
    ORDER_PLACED = "order_placed"
    SEAT_READY = "seat_ready"
    SEAT_FAILED = "seat_failed"  # to the client, in plain words
    SEAT_FAILED_DETAILS = "seat_failed_details"  # to the reseller, with the technical reason
    BILLS_READY = "bills_ready"  # to the reseller: a closed month's drafts wait for review
    INVOICE_ISSUED = "invoice_issued"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    SPLA_DUE = "spla_due"  # to the reseller, 3 days before the 10th
    SPLA_OVERDUE = "spla_overdue"

    @property
    def optional(self) -> bool:
        """Good news nobody has to act on: a recipient may turn it off."""
        return self in OPTIONAL_KINDS


OPTIONAL_KINDS: dict[NoticeKind, str] = {
    NoticeKind.ORDER_PLACED: "An order is placed",
    NoticeKind.SEAT_READY: "A seat is ready to use",
}


class SentNotice(Base):
    """A notice that went out: the unique key makes a redelivered event send nothing twice."""

    __tablename__ = "sent_notices"
    __table_args__ = (UniqueConstraint("event_message_id", "recipient", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The outbox event's message_id (the same however often the event is delivered), or a
    # reminder's own key ("spla:2026-10:spla_due").
    event_message_id: Mapped[str] = mapped_column(String(64), index=True)
    recipient: Mapped[str] = mapped_column(String(254))
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind))
    subject: Mapped[str] = mapped_column(String(300))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeOptOut(Base):
    """An address that asked not to receive one optional kind of notice."""

    __tablename__ = "notice_opt_outs"
    __table_args__ = (UniqueConstraint("email", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
