"""The reseller's review of a month's draft bills: hold, release, approve one, approve all.

Approving a draft is :func:`metering.billing.finalize.finalize_invoice` (the invoice is frozen and,
once the request commits, queued for Stripe); a held draft is never approved, not even by "approve
all", until the hold is released. When a month has no draft left, it is frozen as a whole
(:func:`metering.billing.finalize.finalize_period`), exactly as ``flask --app wsgi billing finalize``
would leave it. The states and the moves between them are :mod:`metering.billing.lifecycle`'s.

What the review pages show (each bill's changes and flags, one bill in detail) is
:mod:`metering.billing.review_rows`. Services flush only; the views commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from metering.billing import lifecycle
from metering.billing.close import period_state
from metering.billing.finalize import MonthNotClosed, finalize_invoice, finalize_period, require_closed
from metering.billing.lifecycle import InvoiceState
from metering.billing.models import Invoice, InvoiceStatus
from metering.periods import BillingPeriod
from portal.audit.services import Actor, record
from portal.db import db
from portal.errors import Conflict, InvalidInput, NotFound
from portal.orders.queries import is_possible_id

MAX_HOLD_REASON = 500


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


def hold_invoice(actor: Actor, invoice: Invoice, reason: str) -> Invoice:
    """Keep a draft out of approval (and out of "approve all") until someone releases it."""
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput(
            "Say why the bill is held.", fields={"reason": "Say why, for whoever releases it."}
        )
    if len(reason) > MAX_HOLD_REASON:
        raise InvalidInput(
            "The reason is too long.", fields={"reason": f"At most {MAX_HOLD_REASON} characters."}
        )
    if not lifecycle.hold(invoice, reason):
        return invoice
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
    reason = lifecycle.release(invoice)
    if reason is None:
        return invoice
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
    try:
        require_closed(period, tz, now)
    except MonthNotClosed:
        # The console's words for the same check: what to run before approving.
        raise Conflict(
            f"The close of {period.label} has not gone through every client yet: run "
            f"`flask --app wsgi billing close {period}` again, then approve."
        ) from None


def freeze_month_if_done(actor: Actor, period: BillingPeriod, tz: ZoneInfo, now: datetime) -> bool:
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
    # Checked first so that approving a bill that cannot be approved says why, whatever the month.
    lifecycle.require(invoice, InvoiceState.FINALIZED, "approved")
    _require_closed(period, tz, now)
    finalize_invoice(actor, invoice, tz, now)
    freeze_month_if_done(actor, period, tz, now)
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
    approved = [invoice for invoice in drafts if not lifecycle.is_held(invoice)]
    for invoice in approved:
        finalize_invoice(actor, invoice, tz, now)
    frozen = freeze_month_if_done(actor, period, tz, now)
    return Approval(approved=approved, held=len(drafts) - len(approved), month_frozen=frozen)
