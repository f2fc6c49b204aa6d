"""Effective-dated price and licence-cost changes: which month a change may take effect from.

A month that has finalized invoices was billed for good (docs/architecture.md: finalized invoices
never change), so no price or cost may change for it or for any month after it that it would reach.
The command line and the reseller's price book call these; the catalog's services record the change.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from metering.billing.models import BillingPeriodState, Invoice, InvoiceStatus
from metering.periods import BillingPeriod
from portal.audit.services import Actor
from portal.catalog.models import HISTORY_START, LicenceSku, Product
from portal.catalog.services import set_placement, set_product_price, set_sku_cost
from portal.db import db
from portal.errors import InvalidInput

__all__ = ["change_placement", "change_price", "change_sku_cost", "effective_month", "first_unbilled_month"]


def effective_month(text: str | None, now: datetime, tz: ZoneInfo, changing: str = "prices") -> BillingPeriod:
    """The month a change named ``text`` ("YYYY-MM") takes effect from; none named: the next month.

    Refused, as a one-line InvalidInput, when it is not a month or when that month or a later one
    has a finalized invoice (the change would re-price a bill already sent). No field notes: the
    command line would print them as more lines; the price book shows the message by its field.
    """
    current = BillingPeriod.containing(now, tz)
    if not text:
        return current.next()
    try:
        month = BillingPeriod.parse(text.strip())
    except ValueError:
        raise InvalidInput(f"“{text}” is not a month: write YYYY-MM, e.g. {current.next()}.") from None
    finalized = db.session.scalars(
        select(Invoice.period)
        .where(Invoice.period >= str(month), Invoice.status != InvoiceStatus.DRAFT)
        .union(
            select(BillingPeriodState.period).where(
                BillingPeriodState.period >= str(month), BillingPeriodState.finalized_at.is_not(None)
            )
        )
    ).all()
    if finalized:
        last = BillingPeriod.parse(max(finalized))
        raise InvalidInput(
            f"{last} has finalized invoices, so {changing} up to it can no longer change; "
            f"choose {last.next()} or later."
        )
    return month


def first_unbilled_month() -> str:
    """The first month ("YYYY-MM") that no finalized invoice has billed, so a change from it on moves
    nothing already sent or reported: the month after the last finalized one; with none, the start of
    history."""
    finalized = db.session.scalars(
        select(Invoice.period)
        .where(Invoice.status != InvoiceStatus.DRAFT)
        .union(select(BillingPeriodState.period).where(BillingPeriodState.finalized_at.is_not(None)))
    ).all()
    if not finalized:
        return HISTORY_START
    return str(BillingPeriod.parse(max(finalized)).next())


def change_price(
    actor: Actor, product: Product, amount_minor: int, from_month: str | None, now: datetime, tz: ZoneInfo
) -> BillingPeriod:
    """Set ``product``'s monthly price from ``from_month`` (default: the next month). Flush only."""
    _check_amount(amount_minor, "price")
    month = effective_month(from_month, now, tz)
    set_product_price(actor, product, amount_minor, str(month))
    return month


def change_sku_cost(
    actor: Actor, sku: LicenceSku, amount_minor: int, from_month: str | None, now: datetime, tz: ZoneInfo
) -> BillingPeriod:
    """Set what ``sku`` costs the reseller from ``from_month`` (default: the next month). Flush only."""
    _check_amount(amount_minor, "cost")
    month = effective_month(from_month, now, tz)
    set_sku_cost(actor, sku, amount_minor, str(month))
    return month


def change_placement(
    actor: Actor,
    product: Product,
    platform: str,
    sku_codes: list[str],
    from_month: str | None,
    now: datetime,
    tz: ZoneInfo,
) -> BillingPeriod:
    """Give ``product`` on ``platform`` the bill of licences ``sku_codes`` from ``from_month`` (default:
    the next month); a month with finalized invoices is refused, so past reports never move."""
    month = effective_month(from_month, now, tz, changing="bills of licences")
    set_placement(actor, product, platform, sku_codes, str(month))
    return month


def _check_amount(amount_minor: int, field: str) -> None:
    # Checked before the month, so a bad amount is the error shown, whatever month was named.
    if amount_minor < 0:
        raise InvalidInput("The amount must be zero or more.", fields={field: "Must be zero or more."})
