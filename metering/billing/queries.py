"""Reading invoices: a client sees its own finalized invoices, the reseller sees every invoice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from metering.billing.models import BillingAccount, Invoice, InvoiceLine, InvoiceStatus
from metering.periods import BillingPeriod
from portal.accounts.models import Client
from portal.db import db
from portal.errors import InvalidInput, NotFound


def parse_period(text: str | None, field: str = "period") -> BillingPeriod:
    """A ``YYYY-MM`` period from a request or a command line, with a message for a person."""
    try:
        return BillingPeriod.parse((text or "").strip())
    except (TypeError, ValueError):
        raise InvalidInput(
            f"“{text or ''}” is not a month: write it as YYYY-MM, e.g. 2026-10.",
            fields={field: "Use YYYY-MM."},
        ) from None


def _with_lines(query: Any) -> Any:
    return query.options(
        selectinload(Invoice.lines).joinedload(InvoiceLine.product), selectinload(Invoice.client)
    )


def list_invoices(
    *, client: Client | None = None, period: BillingPeriod | None = None, include_drafts: bool = False
) -> list[Invoice]:
    """Invoices, newest month first. ``client`` None means every client (the reseller's view)."""
    query = _with_lines(select(Invoice)).order_by(Invoice.period.desc(), Invoice.client_id, Invoice.id)
    if client is not None:
        query = query.where(Invoice.client_id == client.id)
    if period is not None:
        query = query.where(Invoice.period == str(period))
    if not include_drafts:
        query = query.where(Invoice.status != InvoiceStatus.DRAFT)
    return list(db.session.scalars(query))


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


def invoice_json(invoice: Invoice) -> dict[str, Any]:
    """The API's representation of an invoice, exactly the documented fields."""
    return {
        "id": invoice.id,
        "client": invoice.client.ref,
        "period": invoice.period,
        "status": invoice.status.value,
        "currency": invoice.currency,
        "total_minor": invoice.total_minor,
        "lines": [
            {
                "product": line.product.code,
                "period": line.period,
                "quantity": line.quantity,
                "unit_amount_minor": line.unit_amount_minor,
                "amount_minor": line.amount_minor,
            }
            for line in invoice.lines
        ],
    }


# --- what needs the reseller's attention ----------------------------------------------------------


@dataclass(frozen=True)
class OverdueClient:
    client: Client
    invoices: int
    amount_minor: int
    currency: str
    since: datetime | None


def overdue_clients(limit: int = 50) -> list[OverdueClient]:
    """Clients with overdue invoices, longest overdue first."""
    rows = db.session.execute(
        select(
            Client,
            func.count(Invoice.id),
            func.sum(Invoice.total_minor),
            Invoice.currency,
            func.min(Invoice.overdue_since),
        )
        .join(Invoice, Invoice.client_id == Client.id)
        .where(Invoice.status == InvoiceStatus.OVERDUE)
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
