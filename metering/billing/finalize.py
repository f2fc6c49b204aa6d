"""Finalizing drafts: from here on an invoice's lines and total never change, and it goes to Stripe."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from metering.billing import lifecycle
from metering.billing.close import check_period_over, period_state
from metering.billing.documents import parties_snapshot
from metering.billing.lifecycle import InvoiceState
from metering.billing.models import BillingPeriodState, Invoice, InvoiceStatus
from metering.credits.services import apply_carried_credit, issue_month_credit_note
from metering.periods import BillingPeriod
from metering.psa.services import queue_invoice_sync
from metering.quickbooks.services import schedule_sync as schedule_quickbooks_sync
from portal.accounts.models import DEFAULT_PAYMENT_TERMS_DAYS, Reseller
from portal.accounts.services import get_reseller
from portal.audit.services import Actor, record
from portal.celery_app import enqueue_after_commit
from portal.db import db
from portal.errors import Conflict

log = logging.getLogger("seatmeter.billing")


class MonthNotClosed(Conflict):
    """The month is over but its close has not gone through every client yet."""


def require_closed(period: BillingPeriod, tz: ZoneInfo, now: datetime) -> BillingPeriodState:
    """The month is over and its last close went through every client: what finalizing needs."""
    check_period_over(period, tz, now)
    state = period_state(period)
    if state is None or state.closed_at is None:
        raise MonthNotClosed(
            f"{period.label} has not been closed yet: run the month close first.",
            fields={"period": "Not closed yet."},
        )
    return state


def _finalize(actor: Actor, invoice: Invoice, tz: ZoneInfo, now: datetime, reseller: Reseller | None) -> None:
    # The document's terms and parties are fixed as it is issued: a later change of either profile
    # changes no invoice. Written while it is still a draft, which may still change.
    lifecycle.require(invoice, InvoiceState.FINALIZED)
    terms = reseller.payment_terms_days if reseller is not None else DEFAULT_PAYMENT_TERMS_DAYS
    invoice.due_on = now.astimezone(tz).date() + timedelta(days=terms)
    invoice.number_prefix = reseller.invoice_prefix if reseller is not None else ""
    invoice.parties = parties_snapshot(invoice, reseller)
    lifecycle.finalize(invoice, now)
    record(
        actor,
        "invoice.finalized",
        "invoice",
        invoice.id,
        client_id=invoice.client_id,
        details={"period": invoice.period, "total_minor": invoice.total_minor, "currency": invoice.currency},
    )
    if invoice.total_minor < 0:
        # A month that gives back more than it bills is a credit note, never a negative invoice.
        issue_month_credit_note(actor, invoice, now)
    else:
        # Credit kept from earlier credit notes pays (part of) this invoice before it goes out.
        apply_carried_credit(actor, invoice, now)


def finalize_period(actor: Actor, period: BillingPeriod, tz: ZoneInfo, now: datetime) -> list[Invoice]:
    """Finalize every draft of the month and freeze the month. Running it again changes nothing."""
    state = require_closed(period, tz, now)
    all_drafts = list(
        db.session.scalars(
            select(Invoice)
            .where(Invoice.period == str(period), Invoice.status == InvoiceStatus.DRAFT)
            .order_by(Invoice.id)
            .with_for_update()
        )
    )
    # A draft the reseller put on hold waits for its review; the month freezes once none is left.
    drafts = [invoice for invoice in all_drafts if not lifecycle.is_held(invoice)]
    held = len(all_drafts) - len(drafts)
    reseller = get_reseller()
    for invoice in drafts:
        _finalize(actor, invoice, tz, now, reseller)
    if held:
        log.info("%s: %d held drafts left for review; the month stays open", period, held)
    elif state.finalized_at is None:
        state.finalized_at = now
        record(
            actor,
            "billing.period_finalized",
            "billing_period",
            str(period),
            details={"invoices": len(drafts)},
        )
    db.session.flush()
    schedule_push(invoice.id for invoice in drafts if invoice.status is InvoiceStatus.FINALIZED)
    # The month's quantities go to the PSA's agreements once this commits (nothing if no PSA is set).
    queue_invoice_sync(drafts)
    return drafts


def finalize_invoice(actor: Actor, invoice: Invoice, tz: ZoneInfo, now: datetime) -> Invoice:
    """Finalize one reviewed draft (the reseller's review pages)."""
    lifecycle.require(invoice, InvoiceState.FINALIZED)
    check_period_over(BillingPeriod.parse(invoice.period), tz, now)
    _finalize(actor, invoice, tz, now, get_reseller())
    db.session.flush()
    if invoice.status is InvoiceStatus.FINALIZED:
        schedule_push([invoice.id])
    queue_invoice_sync([invoice])
    return invoice


def period_is_finalized(period: BillingPeriod) -> bool:
    state = db.session.get(BillingPeriodState, str(period))
    return state is not None and state.finalized_at is not None


def schedule_push(invoice_ids: Iterable[int]) -> None:
    """Send these invoices to Stripe once the transaction commits (never inside it)."""
    ids = list(invoice_ids)
    if not ids:
        return
    # The books hear of it too, whether or not Stripe collects it.
    schedule_quickbooks_sync()
    if not current_app.config.get("STRIPE_API_KEY"):
        log.info("STRIPE_API_KEY is not set: %d finalized invoices are not sent to Stripe", len(ids))
        return
    for invoice_id in ids:
        # A broker that is down is logged, not raised: the push sweep sends the invoice later.
        enqueue_after_commit("metering.push_invoice", invoice_id)
