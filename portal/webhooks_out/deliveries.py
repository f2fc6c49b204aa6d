"""What a delivery attempt leads to: the log, a retry or giving up, disabling an endpoint; the sweep.

The Celery tasks (``tasks.py``) make the requests; everything they decide is here, in plain
functions that flush, so each step of the task is one short transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from portal.accounts.models import Role, User
from portal.audit.services import Actor
from portal.celery_app import enqueue_after_commit
from portal.db import db
from portal.notifications.services import public_link, send_email_after_commit
from portal.webhooks_out.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from portal.webhooks_out.sending import Result
from portal.webhooks_out.services import DELIVER_TASK, disable_endpoint


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
