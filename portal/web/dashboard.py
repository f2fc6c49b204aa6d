"""What the client's dashboard shows beyond the seats: this month's cost so far, recent activity.

The month's cost is the metering engine's estimate of the month in progress: what the month close
will bill for it, counted and rated by the close's own code (committed seats and metered usage
included), so the figure shown is the figure invoiced.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from metering import MonthEstimate, billing_timezone, estimate_month
from portal.accounts.models import Client
from portal.audit.models import AuditEvent
from portal.audit.services import SIGN_IN_ACTIONS
from portal.db import db, utcnow


def month_so_far(client: Client, now: datetime | None = None) -> MonthEstimate:
    """The current billing month as its close would bill it now (the web edge supplies the clock)."""
    return estimate_month(client, now or utcnow(), billing_timezone())


def recent_activity(client: Client, limit: int = 10) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.client_id == client.id, AuditEvent.action.not_in(SIGN_IN_ACTIONS))
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )
