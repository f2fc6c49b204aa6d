"""Outgoing webhooks: the outbox (:func:`emit`), endpoints, and what each delivery attempt leads to.

:func:`emit` is called by the one owner of each change, in the transaction that makes it: an event
row and one delivery row per endpoint that wants it are flushed, and ``webhooks.deliver`` is queued
for each delivery after the commit. A rolled-back change sends nothing; a committed one is sent
however long the endpoint is down (retries, then "redeliver").
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from portal.audit.services import Actor, record
from portal.celery_app import enqueue_after_commit
from portal.db import db, utcnow
from portal.errors import Conflict, InvalidInput, NotFound
from portal.notices.services import NOTICE_EVENTS, queue_notices
from portal.webhooks_out.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from portal.webhooks_out.sending import check_url

DELIVER_TASK = "webhooks.deliver"

# The events an endpoint can subscribe to, with what each one means (the console and the docs).
EVENT_TYPES: dict[str, str] = {
    "order.placed": "A client (or the reseller for it) ordered seats.",
    "seat.active": "A seat became active on its platform (ordered, assigned, resumed).",
    "seat.failed": "A seat's platform step failed for good; it waits for a person.",
    "seat.terminated": "A seat is gone from its platform.",
    "period.closed": "A month was closed: every client's bill for it is drafted and waits for review.",
    "invoice.finalized": "An invoice was approved and finalized.",
    "invoice.paid": "An invoice was paid.",
    "invoice.overdue": "An invoice's payment failed; it is overdue.",
    "client.suspended": "A client was suspended (by the reseller, or for non-payment).",
    "client.resumed": "A client's suspension was lifted.",
    "trueup.finding": "The true-up found (or found again) a difference between a platform and the bills.",
}
# Sent by "Send test event" to one endpoint only; no endpoint subscribes to it.
TEST_EVENT = "webhook.test"

UNREADABLE_SECRET = (
    "The signing secret cannot be read: SECRET_KEY changed since it was made. "  # nosec B105  # an error message, not a secret
    "Make a new secret and give it to the receiver."
)

MAX_DESCRIPTION = 200
MAX_URL = 2000


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _fernet() -> Fernet:
    digest = hashlib.sha256(
        b"seatmeter/webhook-secret/v1\0" + current_app.config["SECRET_KEY"].encode()
    ).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _set_secret(endpoint: WebhookEndpoint, secret: str) -> None:
    endpoint.sealed_secret = _fernet().encrypt(secret.encode()).decode()


def signing_secret(endpoint: WebhookEndpoint) -> str | None:
    """The endpoint's signing secret, or None if it was sealed under another SECRET_KEY."""
    try:
        return _fernet().decrypt(endpoint.sealed_secret.encode()).decode()
    except InvalidToken:
        return None


# --- the outbox --------------------------------------------------------------------------------------


def emit(
    event_type: str, subject: object, data: Callable[[], dict[str, Any]], *, now: datetime | None = None
) -> WebhookEvent | None:
    """Record that ``event_type`` happened to ``subject``, for every endpoint that wants it.

    The event joins the session (so the transaction) that ``subject`` belongs to, which commits it
    together with the change or not at all; an object in no session (a state machine exercised on
    its own) has no transaction to join, and nothing is recorded. ``data`` builds the payload only
    when some enabled endpoint (or an e-mail notice) wants the event. Called once per change, by the
    code that owns the change, so a receiver sees each change once (retries carry the same
    ``webhook-id``).
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    session = object_session(subject)
    if session is None:
        return None
    endpoints = [
        endpoint
        for endpoint in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))
        if endpoint.wants(event_type)
    ]
    # E-mail notices start from the same outbox row, so an event they need is recorded even when
    # no endpoint wants it.
    if not endpoints and event_type not in NOTICE_EVENTS:
        return None
    event = _record_event(session, event_type, data(), endpoints, now or utcnow())
    queue_notices(event_type, event.id)
    return event


def _record_event(
    session: Session, event_type: str, data: dict[str, Any], endpoints: list[WebhookEndpoint], now: datetime
) -> WebhookEvent:
    event = WebhookEvent(
        message_id=f"msg_{secrets.token_hex(16)}",
        type=event_type,
        payload={"type": event_type, "timestamp": now.isoformat(), "data": data},
        created_at=now,
    )
    session.add(event)
    session.flush()
    for endpoint in endpoints:
        delivery = WebhookDelivery(
            event_id=event.id, endpoint_id=endpoint.id, retry_from=now, next_attempt_at=now, created_at=now
        )
        session.add(delivery)
        session.flush()
        enqueue_after_commit(DELIVER_TASK, delivery.id)
    return event


# --- endpoints ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointSettings:
    """What a person sets on an endpoint (the console's form)."""

    url: str
    description: str = ""
    event_types: tuple[str, ...] = ()
    allow_private: bool = False


def _checked(settings: EndpointSettings) -> EndpointSettings:
    url = settings.url.strip()
    if not url:
        raise InvalidInput("Enter the endpoint's URL.", fields={"url": "Enter the endpoint's URL."})
    if len(url) > MAX_URL:
        message = f"The URL is longer than {MAX_URL} characters."
        raise InvalidInput(message, fields={"url": message})
    unknown = [t for t in settings.event_types if t not in EVENT_TYPES]
    if unknown:
        message = f"There is no event called {unknown[0]}."
        raise InvalidInput(message, fields={"event_types": message})
    check_url(url, allow_private=settings.allow_private)
    return EndpointSettings(
        url=url,
        description=settings.description.strip()[:MAX_DESCRIPTION],
        event_types=tuple(t for t in EVENT_TYPES if t in settings.event_types),
        allow_private=settings.allow_private,
    )


def _details(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "events": endpoint.event_types or "all",
        "allow_private": endpoint.allow_private,
    }


def list_endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get_endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("There is no webhook endpoint with this number.")
    return endpoint


def create_endpoint(actor: Actor, settings: EndpointSettings) -> WebhookEndpoint:
    checked = _checked(settings)
    endpoint = WebhookEndpoint(
        url=checked.url,
        description=checked.description,
        event_types=list(checked.event_types),
        allow_private=checked.allow_private,
    )
    _set_secret(endpoint, new_secret())
    db.session.add(endpoint)
    db.session.flush()
    record(actor, "webhook.endpoint_added", "webhook_endpoint", endpoint.id, details=_details(endpoint))
    return endpoint


def update_endpoint(actor: Actor, endpoint: WebhookEndpoint, settings: EndpointSettings) -> None:
    checked = _checked(settings)
    endpoint.url = checked.url
    endpoint.description = checked.description
    endpoint.event_types = list(checked.event_types)
    endpoint.allow_private = checked.allow_private
    db.session.flush()
    record(actor, "webhook.endpoint_changed", "webhook_endpoint", endpoint.id, details=_details(endpoint))


def disable_endpoint(
    actor: Actor, endpoint: WebhookEndpoint, reason: str, now: datetime | None = None
) -> None:
    """Stop sending to the endpoint. Its pending deliveries give up at their next attempt."""
    if not endpoint.enabled:
        return
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    endpoint.disabled_at = now or utcnow()
    db.session.flush()
    record(actor, "webhook.endpoint_disabled", "webhook_endpoint", endpoint.id, details={"reason": reason})


def enable_endpoint(actor: Actor, endpoint: WebhookEndpoint) -> None:
    """Send to the endpoint again; its address is checked again, since DNS may have changed."""
    if endpoint.enabled:
        return
    check_url(endpoint.url, allow_private=endpoint.allow_private)
    endpoint.enabled = True
    endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
    db.session.flush()
    record(actor, "webhook.endpoint_enabled", "webhook_endpoint", endpoint.id)


def rotate_secret(actor: Actor, endpoint: WebhookEndpoint) -> None:
    _set_secret(endpoint, new_secret())
    db.session.flush()
    record(actor, "webhook.secret_rotated", "webhook_endpoint", endpoint.id)


def send_test_event(actor: Actor, endpoint: WebhookEndpoint, now: datetime | None = None) -> WebhookEvent:
    """A ``webhook.test`` event for this one endpoint, delivered like any other."""
    if not endpoint.enabled:
        raise Conflict("This endpoint is disabled; enable it before sending a test event.")
    now = now or utcnow()
    event = WebhookEvent(
        message_id=f"msg_{secrets.token_hex(16)}",
        type=TEST_EVENT,
        payload={
            "type": TEST_EVENT,
            "timestamp": now.isoformat(),
            "data": {"endpoint_id": endpoint.id, "sent_by": actor.label},
        },
        created_at=now,
    )
    db.session.add(event)
    db.session.flush()
    delivery = WebhookDelivery(
        event_id=event.id, endpoint_id=endpoint.id, retry_from=now, next_attempt_at=now, created_at=now
    )
    db.session.add(delivery)
    db.session.flush()
    enqueue_after_commit(DELIVER_TASK, delivery.id)
    record(actor, "webhook.test_sent", "webhook_endpoint", endpoint.id)
    return event


def redeliver(actor: Actor, delivery: WebhookDelivery, now: datetime | None = None) -> None:
    """Send an event again (same ``webhook-id``), with a fresh day of retries."""
    if not delivery.endpoint.enabled:
        raise Conflict("This endpoint is disabled; enable it before redelivering.")
    now = now or utcnow()
    delivery.status = DeliveryStatus.PENDING
    delivery.retry_from = delivery.next_attempt_at = now
    db.session.flush()
    enqueue_after_commit(DELIVER_TASK, delivery.id)
    record(
        actor,
        "webhook.redelivered",
        "webhook_delivery",
        delivery.id,
        details={"event": delivery.event.message_id, "type": delivery.event.type},
    )


def get_delivery(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound("There is no such delivery for this endpoint.")
    return delivery


def recent_deliveries(endpoint: WebhookEndpoint, limit: int = 50) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def attempts_of(delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(
        db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id)
            .order_by(WebhookAttempt.number)
        )
    )


def disabled_by_failures() -> list[WebhookEndpoint]:
    """Endpoints the deliveries turned off: the console's banner lists them."""
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.enabled.is_(False), WebhookEndpoint.failing_since.is_not(None))
            .order_by(WebhookEndpoint.id)
        )
    )
