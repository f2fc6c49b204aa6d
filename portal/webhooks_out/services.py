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
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, object_session

from portal.accounts.models import Role, User
from portal.audit.services import Actor, record
from portal.celery_app import enqueue_after_commit
from portal.db import db, utcnow
from portal.errors import Conflict, InvalidInput, NotFound
from portal.notifications.services import public_link, send_email_after_commit
from portal.webhooks_out.delivery import Result, check_url
from portal.webhooks_out.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

DELIVER_TASK = "webhooks.deliver"

# The events an endpoint can subscribe to, with what each one means (the console and the docs).
EVENT_TYPES: dict[str, str] = {
    "seat.active": "A seat became active on its platform (ordered, assigned, resumed).",
    "seat.failed": "A seat's platform step failed for good; it waits for a person.",
    "seat.terminated": "A seat is gone from its platform.",
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
    "The signing secret cannot be read: SECRET_KEY changed since it was made. "
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
    when some enabled endpoint wants the event. Called once per change, by the code that owns the
    change, so a receiver sees each change once (retries carry the same ``webhook-id``).
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
    if not endpoints:
        return None
    return _record_event(session, event_type, data(), endpoints, now or utcnow())


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


# --- what an attempt leads to ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Next:
    """After an attempt: wait ``retry_in`` seconds and try again, or (None) stop."""

    retry_in: int | None


def pending_delivery(delivery_id: int) -> WebhookDelivery | None:
    """The delivery if there is something to send: pending, with its endpoint enabled."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status is not DeliveryStatus.PENDING:
        return None
    if not delivery.endpoint.enabled:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        db.session.flush()
        return None
    return delivery


def backoff_seconds(attempt_number: int) -> int:
    """Exponential backoff: the base, doubled for each attempt after the first, up to the maximum."""
    config = current_app.config
    base = int(config["WEBHOOK_RETRY_BASE_SECONDS"])
    return min(base * 2 ** max(attempt_number - 1, 0), int(config["WEBHOOK_RETRY_MAX_SECONDS"]))


def record_attempt(delivery: WebhookDelivery, result: Result, at: datetime, now: datetime) -> Next:
    """Write the attempt to the log, and decide on a retry or on disabling the endpoint."""
    delivery.attempt_count += 1
    delivery.last_attempt_at = at
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=delivery.attempt_count,
            at=at,
            response_code=result.response_code,
            duration_ms=result.duration_ms,
            error=result.error,
            succeeded=result.succeeded,
        )
    )
    endpoint = delivery.endpoint
    if result.succeeded:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        endpoint.failing_since = None
        db.session.flush()
        return Next(None)
    config = current_app.config
    if endpoint.failing_since is None:
        endpoint.failing_since = at
    elif now - endpoint.failing_since >= timedelta(seconds=int(config["WEBHOOK_DISABLE_AFTER_SECONDS"])):
        _disable_for_failures(endpoint, now)
    wait = backoff_seconds(delivery.attempt_count)
    window = timedelta(seconds=int(config["WEBHOOK_RETRY_WINDOW_SECONDS"]))
    if not endpoint.enabled or now + timedelta(seconds=wait) - delivery.retry_from > window:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        db.session.flush()
        return Next(None)
    delivery.next_attempt_at = now + timedelta(seconds=wait)
    db.session.flush()
    return Next(wait)


def requeue_lost_deliveries(now: datetime) -> int:
    """Queue again every pending delivery whose attempt is overdue by more than the sweep's grace.

    Its job was lost (a broker that was down when the change committed, a worker killed between
    attempts). A job that is merely late may then run twice: the event keeps its ``webhook-id``.
    """
    grace = timedelta(seconds=int(current_app.config["WEBHOOK_SWEEP_GRACE_SECONDS"]))
    overdue = list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now - grace,
            )
            .order_by(WebhookDelivery.id)
            .limit(500)
        )
    )
    for delivery in overdue:
        # Not queued again by the next sweep before this job has had its time.
        delivery.next_attempt_at = now
        enqueue_after_commit(DELIVER_TASK, delivery.id)
    db.session.flush()
    return len(overdue)


def purge_old_events(now: datetime) -> int:
    """Delete events (with their deliveries and attempts) older than the retention, none pending."""
    cutoff = now - timedelta(days=int(current_app.config["WEBHOOK_RETENTION_DAYS"]))
    pending = select(WebhookDelivery.event_id).where(WebhookDelivery.status == DeliveryStatus.PENDING)
    old = list(
        db.session.scalars(
            select(WebhookEvent.id).where(WebhookEvent.created_at < cutoff, WebhookEvent.id.not_in(pending))
        )
    )
    if not old:
        return 0
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.event_id.in_(old))
    db.session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(old)))
    db.session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(old)))
    return len(old)


def _disable_for_failures(endpoint: WebhookEndpoint, now: datetime) -> None:
    since = endpoint.failing_since
    reason = (
        f"Every delivery failed since {since:%Y-%m-%d %H:%M} UTC, so Seatmeter stopped sending to it. "
        "Fix the receiver, then enable the endpoint and redeliver what it missed."
    )
    disable_endpoint(Actor.system("webhooks"), endpoint, reason, now)
    link = public_link("webhooks.endpoint", endpoint_id=endpoint.id)
    admins = db.session.scalars(
        select(User).where(User.role == Role.RESELLER_ADMIN, User.active.is_(True)).order_by(User.id)
    )
    for admin in admins:
        send_email_after_commit(
            admin.email,
            "A webhook endpoint was disabled",
            f"Hello {admin.name},\n\nSeatmeter could not deliver events to the webhook endpoint\n"
            f"{endpoint.url}\nfor a day. {reason}\n\nThe endpoint and its delivery log: {link}\n",
        )
