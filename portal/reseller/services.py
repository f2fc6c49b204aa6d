"""What the reseller changes from the console: holding and approving draft bills, filing the SPLA report.

Approving a draft is metering's ``finalize_invoice`` (the invoice is frozen and, once the request
commits, queued for Stripe); a held draft is never approved, not even by "approve all", until the hold
is released. When a month has no draft left, it is frozen as a whole (metering's ``finalize_period``),
exactly as ``flask --app wsgi billing finalize`` would leave it.

Services flush only; the views commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from metering.billing.close import check_period_over, period_state
from metering.billing.finalize import finalize_invoice, finalize_period
from metering.billing.models import Invoice, InvoiceStatus
from metering.periods import BillingPeriod
from metering.spla.services import SplaReport
from portal.audit.services import Actor, record
from portal.db import db
from portal.errors import Conflict, InvalidInput, NotFound
from portal.orders.queries import is_possible_id
from portal.reseller.models import SplaSubmission

MAX_REASON = 500
MAX_REFERENCE = 100


def get_period_invoice(period: BillingPeriod, invoice_id: int, *, lock: bool = False) -> Invoice:
    """An invoice of this month; any other id (or another month's invoice) is "not found"."""
    if not is_possible_id(invoice_id):
        raise NotFound(f"No invoice #{invoice_id} for {period.label}.")
    query = select(Invoice).where(Invoice.id == invoice_id, Invoice.period == str(period))
    if lock:
        query = query.with_for_update()
    invoice = db.session.scalars(query).first()
    if invoice is None:
        raise NotFound(f"No invoice #{invoice_id} for {period.label}.")
    return invoice


def _require_draft(invoice: Invoice, doing: str) -> None:
    if invoice.status is not InvoiceStatus.DRAFT:
        raise Conflict(
            f"Invoice {invoice.number} is already {invoice.status.value}; only a draft can be {doing}."
        )


def hold_invoice(actor: Actor, invoice: Invoice, reason: str) -> Invoice:
    """Keep a draft out of approval (and out of "approve all") until someone releases it."""
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput(
            "Say why the bill is held.", fields={"reason": "Say why, for whoever releases it."}
        )
    if len(reason) > MAX_REASON:
        raise InvalidInput("The reason is too long.", fields={"reason": f"At most {MAX_REASON} characters."})
    _require_draft(invoice, "held")
    if invoice.hold_reason == reason:
        return invoice
    invoice.hold_reason = reason
    db.session.flush()
    record(
        actor,
        "invoice.held",
        "invoice",
        invoice.id,
        client_id=invoice.client_id,
        details={"period": invoice.period, "reason": reason},
    )
    return invoice


def release_invoice(actor: Actor, invoice: Invoice) -> Invoice:
    """Lift a hold: the draft can be approved again. Releasing a draft that is not held changes nothing."""
    _require_draft(invoice, "released")
    if invoice.hold_reason is None:
        return invoice
    reason = invoice.hold_reason
    invoice.hold_reason = None
    db.session.flush()
    record(
        actor,
        "invoice.released",
        "invoice",
        invoice.id,
        client_id=invoice.client_id,
        details={"period": invoice.period, "was_held_for": reason},
    )
    return invoice


def _require_closed(period: BillingPeriod, tz: ZoneInfo, now: datetime) -> None:
    check_period_over(period, tz, now)
    state = period_state(period)
    if state is None or state.closed_at is None:
        raise Conflict(
            f"The close of {period.label} has not gone through every client yet: run "
            f"`flask --app wsgi billing close {period}` again, then approve."
        )


def _freeze_month_if_done(actor: Actor, period: BillingPeriod, tz: ZoneInfo, now: datetime) -> bool:
    """Once no draft of the month is left, freeze the month (late usage then becomes adjustments)."""
    remaining = db.session.scalar(
        select(func.count(Invoice.id)).where(
            Invoice.period == str(period), Invoice.status == InvoiceStatus.DRAFT
        )
    )
    if remaining:
        return False
    state = period_state(period)
    if state is not None and state.finalized_at is not None:
        return False
    finalize_period(actor, period, tz, now)
    return True


def approve_invoice(actor: Actor, invoice: Invoice, tz: ZoneInfo, now: datetime) -> Invoice:
    """Approve one reviewed draft: it is finalized, and sent to Stripe after the commit."""
    period = BillingPeriod.parse(invoice.period)
    _require_draft(invoice, "approved")
    if invoice.hold_reason is not None:
        raise Conflict(
            f"Invoice {invoice.number} is held ({invoice.hold_reason}); release the hold before approving it."
        )
    _require_closed(period, tz, now)
    finalize_invoice(actor, invoice, tz, now)
    _freeze_month_if_done(actor, period, tz, now)
    return invoice


@dataclass(frozen=True)
class Approval:
    approved: list[Invoice]
    held: int  # drafts skipped because they are held
    month_frozen: bool


def approve_period(actor: Actor, period: BillingPeriod, tz: ZoneInfo, now: datetime) -> Approval:
    """Approve every draft of the month that is not held."""
    _require_closed(period, tz, now)
    drafts = list(
        db.session.scalars(
            select(Invoice)
            .where(Invoice.period == str(period), Invoice.status == InvoiceStatus.DRAFT)
            .order_by(Invoice.id)
            .with_for_update()
        )
    )
    approved = [invoice for invoice in drafts if invoice.hold_reason is None]
    for invoice in approved:
        finalize_invoice(actor, invoice, tz, now)
    frozen = _freeze_month_if_done(actor, period, tz, now)
    return Approval(approved=approved, held=len(drafts) - len(approved), month_frozen=frozen)


# --- the SPLA report -------------------------------------------------------------------------------


def report_figures(report: SplaReport) -> list[dict[str, object]]:
    """The figures of a report, as filed: client, SKU, quantity."""
    return [{"client": line.client, "sku": line.sku, "quantity": line.quantity} for line in report.lines]


def spla_submission(period: BillingPeriod) -> SplaSubmission | None:
    return db.session.get(SplaSubmission, str(period))


def mark_spla_submitted(
    actor: Actor, report: SplaReport, reference: str | None, tz: ZoneInfo, now: datetime
) -> SplaSubmission:
    """Record that the month's report went to the distributor, with the figures that were sent."""
    period = report.period
    reference = " ".join((reference or "").split()) or None
    if reference is not None and len(reference) > MAX_REFERENCE:
        raise InvalidInput(
            "The reference is too long.", fields={"reference": f"At most {MAX_REFERENCE} characters."}
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
