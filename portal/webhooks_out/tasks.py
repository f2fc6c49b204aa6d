"""The Celery task that delivers one event to one endpoint, retried with exponential backoff."""

from __future__ import annotations

from datetime import datetime

from celery import Task, shared_task
from flask import current_app

from portal.db import db, utcnow
from portal.errors import InvalidInput
from portal.transactions import task_transaction
from portal.webhooks_out.deliveries import (
    pending_delivery,
    purge_old_events,
    record_attempt,
    requeue_lost_deliveries,
)
from portal.webhooks_out.models import WebhookDelivery
from portal.webhooks_out.sending import Result, check_url, encode, post, sign
from portal.webhooks_out.services import DELIVER_TASK, UNREADABLE_SECRET, signing_secret


@shared_task(bind=True, name=DELIVER_TASK, max_retries=None)
def deliver(self: Task, delivery_id: int) -> str:
    """One attempt; a failure is retried (Celery retry with a countdown) for a day.

    The request is made with no transaction open. Two copies of this task for one delivery (a
    retry and a "redeliver") may both send: the event keeps its ``webhook-id``, by which a receiver
    following the Standard Webhooks specification drops the second.
    """
    with task_transaction():
        delivery = pending_delivery(delivery_id)
        if delivery is None:
            return "nothing to send"
        endpoint, event = delivery.endpoint, delivery.event
        url, allow_private, secret = endpoint.url, endpoint.allow_private, signing_secret(endpoint)
        message_id, body = event.message_id, encode(event.payload)
    at = utcnow()
    result = _send(url, allow_private, secret, message_id, body, at)
    with task_transaction():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return "the endpoint was removed"
        upshot = record_attempt(delivery, result, at, utcnow())
    if upshot.retry_in is not None:
        raise self.retry(countdown=upshot.retry_in)
    return "delivered" if result.succeeded else "gave up"


def _send(
    url: str, allow_private: bool, secret: str | None, message_id: str, body: str, at: datetime
) -> Result:
    """One signed POST to the endpoint's URL, checked again first (its DNS may have changed)."""
    try:
        target = check_url(url, allow_private=allow_private)
    except InvalidInput as refusal:
        return Result(None, 0, refusal.message)
    if secret is None:
        return Result(None, 0, UNREADABLE_SECRET)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": sign(secret, message_id, at, body),
    }
    config = current_app.config
    return post(
        target,
        headers,
        body,
        timeout_seconds=float(config["WEBHOOK_TIMEOUT_SECONDS"]),
        max_response_bytes=int(config["WEBHOOK_MAX_RESPONSE_BYTES"]),
    )


@shared_task(name="webhooks.sweep")
def sweep() -> dict[str, int]:
    """Beat: queue again the deliveries whose job was lost, and forget events past the retention."""
    now = utcnow()
    with task_transaction():
        requeued = requeue_lost_deliveries(now)
    with task_transaction():
        purged = purge_old_events(now)
    return {"requeued": requeued, "purged": purged}
