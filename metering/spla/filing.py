"""Filing the monthly SPLA report: due by the 10th of the following month, marked submitted once.

The distributor expects a report for every month, even one with no usage, so a month that ended and
was never marked submitted is something to act on. Services flush only; the views commit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from metering.billing.close import check_period_over
from metering.periods import BillingPeriod
from metering.spla.models import SplaSubmission
from metering.spla.services import SplaReport
from portal.audit.services import Actor, record
from portal.db import db
from portal.errors import Conflict, InvalidInput

DUE_DAY = 10
MAX_SPLA_REFERENCE = 100


class FilingState(enum.StrEnum):
    OPEN = "open"  # the month is not over yet
    DUE = "due"
    OVERDUE = "overdue"
    SUBMITTED = "submitted"


def due_date(period: BillingPeriod) -> date:
    """The report for a month is due on the 10th of the month after it."""
    following = period.next()
    return date(following.year, following.month, DUE_DAY)


@dataclass(frozen=True)
class FilingStatus:
    period: BillingPeriod
    due: date
    state: FilingState
    submission: SplaSubmission | None

    @property
    def label(self) -> str:
        if self.submission is not None:
            filed = self.submission
            return f"Submitted by {filed.submitted_by} on {filed.submitted_at:%Y-%m-%d %H:%M} UTC."
        if self.state is FilingState.OPEN:
            return f"{self.period.label} is not over yet; the report is due {self.due:%B} {self.due.day}."
        if self.state is FilingState.OVERDUE:
            return f"Overdue: it was due {self.due:%B} {self.due.day}, {self.due.year}."
        return f"Due {self.due:%B} {self.due.day}, {self.due.year}."


def _state(
    period: BillingPeriod, submission: SplaSubmission | None, tz: ZoneInfo, now: datetime
) -> FilingState:
    if submission is not None:
        return FilingState.SUBMITTED
    if now < period.bounds(tz)[1]:
        return FilingState.OPEN
    # The 10th itself is still on time, in the reseller's own time zone.
    return FilingState.OVERDUE if now.astimezone(tz).date() > due_date(period) else FilingState.DUE


def spla_submission(period: BillingPeriod) -> SplaSubmission | None:
    return db.session.get(SplaSubmission, str(period))


def filing_status(period: BillingPeriod, tz: ZoneInfo, now: datetime) -> FilingStatus:
    submission = spla_submission(period)
    return FilingStatus(period, due_date(period), _state(period, submission, tz, now), submission)


def unfiled_periods(first: BillingPeriod, last: BillingPeriod) -> list[BillingPeriod]:
    """Months from ``first`` to ``last`` (both included) with no report marked submitted. One query."""
    if last < first:
        return []
    filed = set(
        db.session.scalars(
            select(SplaSubmission.period).where(
                SplaSubmission.period >= str(first), SplaSubmission.period <= str(last)
            )
        )
    )
    months = []
    month = first
    while month <= last:
        if str(month) not in filed:
            months.append(month)
        month = month.next()
    return months


@dataclass(frozen=True)
class FiledDifference:
    client: str | None
    sku: str
    filed: int
    now: int


def differences_since_filing(submission: SplaSubmission, report: SplaReport) -> list[FiledDifference]:
    """Lines whose quantity changed since the report was filed (late usage): a correction to send."""
    filed = {(row.get("client"), str(row["sku"])): int(row["quantity"]) for row in submission.report}
    current = {(line.client, line.sku): line.quantity for line in report.lines}
    return [
        FiledDifference(client, sku, filed.get((client, sku), 0), current.get((client, sku), 0))
        for client, sku in sorted(set(filed) | set(current), key=lambda key: (key[0] or "", key[1]))
        if filed.get((client, sku), 0) != current.get((client, sku), 0)
    ]


def report_figures(report: SplaReport) -> list[dict[str, object]]:
    """The figures of a report, as filed: client, SKU, quantity."""
    return [{"client": line.client, "sku": line.sku, "quantity": line.quantity} for line in report.lines]


def mark_spla_submitted(
    actor: Actor, report: SplaReport, reference: str | None, tz: ZoneInfo, now: datetime
) -> SplaSubmission:
    """Record that the month's report went to the distributor, with the figures that were sent."""
    period = report.period
    reference = " ".join((reference or "").split()) or None
    if reference is not None and len(reference) > MAX_SPLA_REFERENCE:
        raise InvalidInput(
            "The reference is too long.", fields={"reference": f"At most {MAX_SPLA_REFERENCE} characters."}
        )
    check_period_over(period, tz, now)
    existing = spla_submission(period)
    if existing is not None:
        raise Conflict(
            f"The {period.label} report was already marked submitted by {existing.submitted_by} "
            f"on {existing.submitted_at:%Y-%m-%d %H:%M} UTC."
        )
    submission = SplaSubmission(
        period=str(period),
        submitted_at=now,
        submitted_by_user_id=actor.user_id,
        submitted_by=actor.label,
        reference=reference,
        report=report_figures(report),
    )
    db.session.add(submission)
    db.session.flush()
    record(
        actor,
        "spla.report_submitted",
        "spla_report",
        str(period),
        details={
            "reference": reference,
            "lines": len(report.lines),
            "quantity": sum(line.quantity for line in report.lines),
        },
    )
    return submission
