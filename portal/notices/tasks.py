"""The Celery task that sends an outbox event's notices: each one once, retried with backoff."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from celery import shared_task
from sqlalchemy import delete

from portal.db import db
from portal.notices.messages import Notice, Rendered, notices_for, render, reseller_profile
from portal.notices.models import SentNotice
from portal.notices.services import SEND_TASK, claim, normalized, opted_out
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


@shared_task(
    name=SEND_TASK,
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=10,
)
def send_notices(event_id: int) -> dict[str, int]:
    """Send every notice of one outbox event that has not gone out yet.

    Each notice is claimed (a ``sent_notices`` row, committed) before the mail server is called
    and released if the send fails, so a redelivered event or a retry after a partial failure
    sends only what is missing, and no transaction stays open while the mail server is slow.
    """
    with task_transaction():
        event = db.session.get(WebhookEvent, event_id)
        if event is None:
            return {"sent": 0, "skipped": 0}
        message_id = event.message_id
        reseller = reseller_profile()
        prepared = [(notice, render(notice, reseller)) for notice in notices_for(event)]
    sent = skipped = 0
    for notice, rendered in prepared:
        with task_transaction():
            claimed = not opted_out(notice.to, notice.kind) and claim(
                message_id, notice.to, notice.kind, notice.subject
            )
        if not claimed:
            skipped += 1
            continue
        try:
            send_message_now(build_message(notice, rendered), rendered.text)
        except BaseException:
            with task_transaction():
                db.session.execute(
                    delete(SentNotice).where(
                        SentNotice.event_message_id == message_id,
                        SentNotice.recipient == normalized(notice.to),
                        SentNotice.kind == notice.kind,
                    )
                )
            raise
        sent += 1
    return {"sent": sent, "skipped": skipped}
