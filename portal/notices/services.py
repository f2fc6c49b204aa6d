"""Notices in the database: which events become notices, who opted out, and what was sent already.

Kernel-level (no engine imports): :func:`portal.webhooks_out.services.emit` calls
:func:`queue_notices` in the transaction of each change. What the mail says is built by the task
(``portal.notices.messages``), which may read the engines.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import User
from portal.celery_app import enqueue_after_commit
from portal.db import db
from portal.notices.models import OPTIONAL_KINDS, NoticeKind, NoticeOptOut, SentNotice

SEND_TASK = "notices.send"
REMINDERS_TASK = "notices.spla_reminders"

# The outbox events that become e-mail notices.
NOTICE_EVENTS: frozenset[str] = frozenset(
    {
        "order.placed",
        "seat.active",
        "seat.failed",
        "period.closed",
        "invoice.finalized",
        "client.suspended",
        "client.resumed",
    }
)


def queue_notices(event_type: str, event_id: int) -> None:
    """Send the notices of an outbox event once its transaction commits."""
    if event_type in NOTICE_EVENTS:
        enqueue_after_commit(SEND_TASK, event_id)


def normalized(email: str) -> str:
    return email.strip().lower()


def opted_out(email: str, kind: NoticeKind) -> bool:
    if not kind.optional:
        return False
    return (
        db.session.scalars(
            select(NoticeOptOut.id).where(NoticeOptOut.email == normalized(email), NoticeOptOut.kind == kind)
        ).first()
        is not None
    )


def opted_out_kinds(user: User) -> set[NoticeKind]:
    return set(
        db.session.scalars(select(NoticeOptOut.kind).where(NoticeOptOut.email == normalized(user.email)))
    )


def set_preferences(user: User, wanted: set[NoticeKind]) -> None:
    """Receive exactly the optional notices in ``wanted``; essential ones cannot be turned off."""
    email = normalized(user.email)
    current = opted_out_kinds(user)
    for kind in OPTIONAL_KINDS:
        if kind in wanted and kind in current:
            for row in db.session.scalars(
                select(NoticeOptOut).where(NoticeOptOut.email == email, NoticeOptOut.kind == kind)
            ):
                db.session.delete(row)
        elif kind not in wanted and kind not in current:
            db.session.add(NoticeOptOut(email=email, kind=kind))
    db.session.flush()


def already_sent(event_message_id: str, recipient: str, kind: NoticeKind) -> bool:
    return (
        db.session.scalars(
            select(SentNotice.id).where(
                SentNotice.event_message_id == event_message_id,
                SentNotice.recipient == normalized(recipient),
                SentNotice.kind == kind,
            )
        ).first()
        is not None
    )


def claim(event_message_id: str, recipient: str, kind: NoticeKind, subject: str) -> bool:
    """Record the notice as sent, in the transaction that commits after the send; False if it was.

    Two workers handling the same event meet at the unique key: the second one's flush fails and
    it sends nothing.
    """
    if already_sent(event_message_id, recipient, kind):
        return False
    try:
        with db.session.begin_nested():
            db.session.add(
                SentNotice(
                    event_message_id=event_message_id,
                    recipient=normalized(recipient),
                    kind=kind,
                    subject=subject[:300],
                )
            )
    except IntegrityError:
        return False
    return True
