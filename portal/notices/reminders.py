"""The reseller's SPLA reminders: the month's report due in 3 days, then overdue (no outbox event).

Beat runs the check hourly; each reminder of a month goes out once, keyed ``spla:<month>:<kind>``
in ``sent_notices`` like an event's notices.
"""

from __future__ import annotations

from datetime import datetime

from metering import BillingPeriod, billing_timezone, filing_status
from portal.notices.messages import Notice, reseller_people
from portal.notices.models import NoticeKind

DUE_SOON_DAYS = 3


def spla_reminders(now: datetime) -> list[tuple[str, Notice]]:
    """(once-key, notice) for last month's SPLA report, if it is due within 3 days or overdue."""
    tz = billing_timezone()
    period = BillingPeriod.containing(now, tz).previous()
    status = filing_status(period, tz, now)
    if status.submission is not None:
        return []
    days_left = (status.due - now.astimezone(tz).date()).days
    due = f"{status.due:%B} {status.due.day}, {status.due.year}"
    if days_left < 0:
        kind = NoticeKind.SPLA_OVERDUE
        subject = f"Overdue: the SPLA report for {period.label}"
        paragraphs = (
            f"The SPLA report for {period.label} was due {due} and is not marked submitted.",
            "Send it to your distributor, then mark it submitted on the SPLA page.",
        )
    elif days_left <= DUE_SOON_DAYS:
        when = "today" if days_left == 0 else f"in {days_left} day{'' if days_left == 1 else 's'}"
        kind = NoticeKind.SPLA_DUE
        subject = f"The SPLA report for {period.label} is due {due}"
        paragraphs = (
            f"The SPLA report for {period.label} is due {due}, {when}.",
            "Send it to your distributor, then mark it submitted on the SPLA page.",
        )
    else:
        return []
    key = f"spla:{period}:{kind.value}"
    return [(key, Notice(kind, to, subject, paragraphs)) for to in reseller_people()]
