"""The Celery task that sends an outbox event's notices: each one once, retried with backoff."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from celery import shared_task
from sqlalchemy import delete

from portal.db import db, utcnow
from portal.notices.messages import Notice, Rendered, notices_for, render, reseller_profile
from portal.notices.models import SentNotice
from portal.notices.reminders import spla_reminders
from portal.notices.services import REMINDERS_TASK, SEND_TASK, claim, normalized, opted_out
from portal.notifications.services import send_message_now
from portal.transactions import task_transaction
from portal.webhooks_out.models import WebhookEvent


def build_message(notice: Notice, rendered: Rendered) -> EmailMessage:
    message = EmailMessage()
    message["To"] = notice.to
    message["Subject"] = notice.subject
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    for attachment in notice.attachments:
        maintype, subtype = attachment.mimetype.split("/", 1)
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message


_RETRY = {
    "autoretry_for": (OSError, smtplib.SMTPException),
    "retry_backoff": 30,
    "retry_backoff_max": 3600,
    "retry_jitter": True,
    "max_retries": 10,
}


def send_once(key: str, notice: Notice, rendered: Rendered) -> bool:
    """Send the notice unless it went out already under ``key`` or its recipient opted out.

    The notice is claimed (a ``sent_notices`` row, committed) before the mail server is called
    and released if the send fails, so a redelivered job or a retry after a partial failure sends
    only what is missing, and no transaction stays open while the mail server is slow.
    """
    with task_transaction():
        claimed = not opted_out(notice.to, notice.kind) and claim(key, notice.to, notice.kind, notice.subject)
    if not claimed:
        return False
    try:
        send_message_now(build_message(notice, rendered), rendered.text)
    except BaseException:
        with task_transaction():
            db.session.execute(
                delete(SentNotice).where(
                    SentNotice.event_message_id == key,
                    SentNotice.recipient == normalized(notice.to),
                    SentNotice.kind == notice.kind,
                )
            )
        raise
    return True


def _send_all(keyed: list[tuple[str, Notice, Rendered]]) -> dict[str, int]:
    sent = sum(1 for key, notice, rendered in keyed if send_once(key, notice, rendered))
    return {"sent": sent, "skipped": len(keyed) - sent}


@shared_task(name=SEND_TASK, **_RETRY)
def send_notices(event_id: int) -> dict[str, int]:
    """Send every notice of one outbox event that has not gone out yet."""
    with task_transaction():
        event = db.session.get(WebhookEvent, event_id)
        if event is None:  # purged with the webhook retention
            return {"sent": 0, "skipped": 0}
        reseller = reseller_profile()
        keyed = [(event.message_id, notice, render(notice, reseller)) for notice in notices_for(event)]
    return _send_all(keyed)


@shared_task(name=REMINDERS_TASK, **_RETRY)
def send_spla_reminders() -> dict[str, int]:
    """Beat: last month's SPLA report due within 3 days, or overdue, told to the reseller once."""
    with task_transaction():
        reseller = reseller_profile()
        keyed = [(key, notice, render(notice, reseller)) for key, notice in spla_reminders(utcnow())]
    return _send_all(keyed)
