"""Reading invoices: a client sees its own finalized invoices, the reseller sees every invoice."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from metering.billing.models import BillingAccount, Invoice, InvoiceLine, InvoiceStatus
from metering.periods import FIRST_PERIOD, LAST_PERIOD, BillingPeriod
from portal.accounts.models import Client
from portal.db import db
from portal.errors import InvalidInput, NotFound
from portal.listing import Page, SortKey, contains, keyset_page


def _excerpt(text: str) -> str:
    # Quote only the start of what was typed: a page must not grow with a 10,000-character input.
    text = text.strip()
    return text if len(text) <= 20 else text[:20] + "…"


def parse_period(text: str | None, field: str = "period") -> BillingPeriod:
    """A ``YYYY-MM`` month from a form, a URL, a query string or a command line, with a message for a person.

    The one parser of months people type: anything that is not a month between ``FIRST_PERIOD``
    and ``LAST_PERIOD`` is :class:`InvalidInput` (a page shows it, a URL turns it into a 404).
    """
    try:
        period = BillingPeriod.parse((text or "").strip())
    except (TypeError, ValueError):
        raise InvalidInput(
            f"“{_excerpt(text or '')}” is not a month: write it as YYYY-MM, e.g. 2026-10.",
            fields={field: "Write the month as YYYY-MM, e.g. 2026-10."},
        ) from None
    if not FIRST_PERIOD <= period <= LAST_PERIOD:
        raise InvalidInput(
            f"{period} is out of range: choose a month from {FIRST_PERIOD} to {LAST_PERIOD}.",
            fields={field: f"Choose a month from {FIRST_PERIOD} to {LAST_PERIOD}."},
        )
    return period


def parse_day(text: str | None, field: str = "date") -> date:
    """A ``YYYY-MM-DD`` day a person typed, in the same range of months as :func:`parse_period`."""
    raw = (text or "").strip()
    try:
        day = date.fromisoformat(raw) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw) else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput(
            f"“{_excerpt(raw)}” is not a date: write it as YYYY-MM-DD, e.g. 2026-10-31.",
            fields={field: "Not a valid date value. Write it as YYYY-MM-DD, e.g. 2026-10-31."},
        )
    if not FIRST_PERIOD <= BillingPeriod(day.year, day.month) <= LAST_PERIOD:
        raise InvalidInput(
            f"{day} is out of range: choose a date from {FIRST_PERIOD}-01 to {LAST_PERIOD}-31.",
            fields={field: f"Choose a date from {FIRST_PERIOD}-01 to {LAST_PERIOD}-31."},
        )
    return day


def _with_lines(query: Any) -> Any:
    return query.options(
        selectinload(Invoice.lines).joinedload(InvoiceLine.product), selectinload(Invoice.client)
    )


def _invoices(client: Client | None, period: BillingPeriod | None, include_drafts: bool) -> Any:
    query = _with_lines(select(Invoice))
    if client is not None:
        query = query.where(Invoice.client_id == client.id)
    if period is not None:
        query = query.where(Invoice.period == str(period))
    if not include_drafts:
        query = query.where(Invoice.status != InvoiceStatus.DRAFT)
    return query


def list_invoices(
    *, client: Client | None = None, period: BillingPeriod | None = None, include_drafts: bool = False
) -> list[Invoice]:
    """Invoices, newest month first. ``client`` None means every client (the reseller's view)."""
    query = _invoices(client, period, include_drafts).order_by(
        Invoice.period.desc(), Invoice.client_id, Invoice.id
    )
    return list(db.session.scalars(query))


# Newest month first, then by client; the id makes the order total.
INVOICE_KEYS = (SortKey(Invoice.period, descending=True), SortKey(Invoice.client_id), SortKey(Invoice.id))


def page_invoices(
    *,
    list_name: str,
    cursor: str | None,
    limit: int,
    client: Client | None = None,
    period: BillingPeriod | None = None,
    include_drafts: bool = False,
    search: str = "",
    issued_only: bool = False,
) -> Page[Invoice]:
    """One page of :func:`list_invoices`' list; ``search`` matches the client's name or reference."""
    query = _invoices(client, period, include_drafts)
    if search:
        query = query.join(Client, Client.id == Invoice.client_id).where(contains(Client.search_text, search))
    if issued_only:
        # A month that netted below zero reached the client as a credit note, not as an invoice.
        query = query.where(Invoice.total_minor >= 0)
    return keyset_page(
        query,
        INVOICE_KEYS,
        lambda invoice: (invoice.period, invoice.client_id, invoice.id),
        list_name=list_name,
        cursor=cursor,
        limit=limit,
        scalars=True,
    )


def newest_period(*, include_drafts: bool = False) -> BillingPeriod | None:
    """The latest month with an invoice (an issued one, unless drafts count)."""
    query = select(func.max(Invoice.period))
    if not include_drafts:
        query = query.where(Invoice.status != InvoiceStatus.DRAFT)
    newest = db.session.scalar(query)
    return BillingPeriod.parse(newest) if newest else None


def draft_count(period: BillingPeriod) -> int:
    return (
        db.session.scalar(
            select(func.count(Invoice.id)).where(
                Invoice.period == str(period), Invoice.status == InvoiceStatus.DRAFT
            )
        )
        or 0
    )


def get_invoice_for_client(client: Client, invoice_id: int) -> Invoice:
    """One of the client's issued invoices; a draft or another client's invoice is "not found"."""
    invoice = db.session.scalars(
        _with_lines(select(Invoice)).where(
            Invoice.id == invoice_id, Invoice.client_id == client.id, Invoice.status != InvoiceStatus.DRAFT
        )
    ).first()
    if invoice is None:
        raise NotFound(f"No invoice #{invoice_id}.")
    return invoice


def get_invoice(invoice_id: int) -> Invoice:
    invoice = db.session.scalars(_with_lines(select(Invoice)).where(Invoice.id == invoice_id)).first()
    if invoice is None:
        raise NotFound(f"No invoice #{invoice_id}.")
    return invoice


def billing_account_of(client: Client) -> BillingAccount | None:
    return db.session.scalars(select(BillingAccount).where(BillingAccount.client_id == client.id)).first()


# --- what needs the reseller's attention ----------------------------------------------------------


@dataclass(frozen=True)
class OverdueClient:
    client: Client
    invoices: int
    amount_minor: int
    currency: str
    since: datetime | None


def overdue_clients(limit: int = 50) -> list[OverdueClient]:
    """Clients with unpaid invoices being chased (overdue, or waiting for the client to confirm the
    payment), longest unpaid first."""
    rows = db.session.execute(
        select(
            Client,
            func.count(Invoice.id),
            func.sum(Invoice.total_minor),
            Invoice.currency,
            func.min(Invoice.overdue_since),
        )
        .join(Invoice, Invoice.client_id == Client.id)
        .where(Invoice.status.in_([InvoiceStatus.OVERDUE, InvoiceStatus.NEEDS_AUTHENTICATION]))
        .group_by(Client.id, Invoice.currency)
        .order_by(func.min(Invoice.overdue_since), Client.name)
        .limit(limit)
    ).all()
    return [
        OverdueClient(client=client, invoices=count, amount_minor=int(total), currency=currency, since=since)
        for client, count, total, currency, since in rows
    ]


@dataclass(frozen=True)
class DraftsToReview:
    period: BillingPeriod
    drafts: int
    held: int


def drafts_to_review() -> list[DraftsToReview]:
    """Months with drafts still waiting for approval, oldest first."""
    rows = db.session.execute(
        select(Invoice.period, func.count(Invoice.id), func.count(Invoice.hold_reason))
        .where(Invoice.status == InvoiceStatus.DRAFT)
        .group_by(Invoice.period)
        .order_by(Invoice.period)
    ).all()
    return [DraftsToReview(BillingPeriod.parse(period), drafts, held) for period, drafts, held in rows]
