"""Outgoing webhooks: where events go (endpoints), what happened (the outbox) and each try to send it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import str_enum
from portal.db import Base, utcnow


class WebhookEndpoint(Base):
    """A URL of the reseller's that receives events, signed with its own secret.

    ``event_types`` empty means every event. ``allow_private`` lets the URL point at loopback,
    link-local or private addresses (a PSA inside the reseller's own network); off, such a URL is
    refused when saved and again before every delivery, since DNS can change in between.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(200), default="")
    # The signing secret ("whsec_" + base64 of 32 random bytes, the Standard Webhooks format),
    # encrypted with a key derived from SECRET_KEY: a copy of the database alone cannot forge events.
    sealed_secret: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    allow_private: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Why it was turned off: by a person, or by the deliveries after a day of failures.
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None]
    # The first failed attempt since the last success: a day of failures turns the endpoint off.
    failing_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookEvent(Base):
    """One change, recorded in the transaction that made it (the outbox); never changed afterwards.

    ``message_id`` is the Standard Webhooks ``webhook-id``: the same on every attempt and every
    redelivery of this event, so a receiver can drop what it has seen already.
    """

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    # The JSON body sent: {"type", "timestamp", "data"}.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # not tried yet, or failing and being retried
    DELIVERED = "delivered"
    FAILED = "failed"  # retries gave up (a day of failures) or the endpoint is off


class WebhookDelivery(Base):
    """One event for one endpoint: retried until it is delivered or a day has passed."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempt_count: Mapped[int] = mapped_column(default=0)
    # When the current run of retries began (creation, or the last "redeliver"): retries stop a day on.
    retry_from: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    # When the next attempt is due while pending (None once delivered or failed): the sweep re-queues
    # a delivery whose job was lost (a broker outage, a killed worker) some time after this.
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    event: Mapped[WebhookEvent] = relationship()
    endpoint: Mapped[WebhookEndpoint] = relationship()


class WebhookAttempt(Base):
    """One HTTP request of a delivery: the delivery log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    response_code: Mapped[int | None]
    duration_ms: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(default=False)
