"""Invoices and their lines, the month-close bookkeeping, and each client's Stripe billing account.

An invoice is a ``draft`` while its month is being closed (a re-run rebuilds it), then ``finalized``
(its lines and total never change again), then ``paid`` or ``overdue`` as Stripe reports. There is at
most one invoice per client and period; late usage for a finalized month becomes an ``adjustment``
line on a later invoice, and every line says which ``period`` it bills. The moves between statuses
(and holding a draft back from approval) are :mod:`metering.billing.lifecycle`'s alone.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    inspect,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from portal.accounts.models import Client, str_enum
from portal.catalog.models import Product
from portal.db import Base, utcnow


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"  # sent for payment, not paid yet
    PAID = "paid"
    OVERDUE = "overdue"  # a payment attempt failed
    NEEDS_AUTHENTICATION = "needs_authentication"  # the bank asks the client to confirm (3-D Secure)
    VOID = "void"  # voided in Stripe: nothing is owed
    UNCOLLECTIBLE = "uncollectible"  # written off in Stripe: not chased any more

    @property
    def is_final(self) -> bool:
        return self is not InvoiceStatus.DRAFT


class LineKind(enum.StrEnum):
    REGULAR = "regular"  # the invoice's own month
    ADJUSTMENT = "adjustment"  # a correction for an earlier, finalized month


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("client_id", "period"),
        Index("ix_invoices_period_status", "period", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    period: Mapped[str] = mapped_column(String(7))  # "YYYY-MM"
    status: Mapped[InvoiceStatus] = mapped_column(str_enum(InvoiceStatus), default=InvoiceStatus.DRAFT)
    currency: Mapped[str] = mapped_column(String(3))
    # What the client pays: subtotal (the lines' amounts) plus every tax not already included in them.
    total_minor: Mapped[int]
    subtotal_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    # Every tax of the lines, included or added (the included part is already in the subtotal).
    tax_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    # The month's bounds in the billing time zone when it was built, as UTC instants.
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # The ledger as of this instant is what the lines count; later changes become adjustments.
    built_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finalized_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    overdue_since: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    uncollectible_at: Mapped[datetime | None]
    payment_error: Mapped[str | None] = mapped_column(Text)
    # Set while the reseller holds the draft back from approval (the reseller console's review);
    # who held it and when is in the audit log.
    hold_reason: Mapped[str | None] = mapped_column(Text)
    # Set as it is finalized: the issue date in the billing time zone plus the reseller's payment terms,
    # and the reseller's invoice number prefix at that moment.
    due_on: Mapped[date | None]
    number_prefix: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # The seller's and buyer's blocks and the bank details as they stood when it was issued
    # (metering.billing.documents.parties_snapshot): a later change of either profile changes no
    # issued document. None on a draft, and on invoices issued before this was kept.
    parties: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Stripe bookkeeping (delivery state, not content).
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_attempts: Mapped[int] = mapped_column(default=0)
    push_lease_until: Mapped[datetime | None]
    # Stripe's page where the client pays or authenticates this invoice (from Stripe's answers).
    stripe_hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    # When the beat sweep charges an overdue invoice again (BILLING_RETRY_DAYS); None: no retry left.
    next_payment_retry_at: Mapped[datetime | None]

    client: Mapped[Client] = relationship()
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.position"
    )

    @property
    def number(self) -> str:
        return f"{self.number_prefix or ''}{self.period}-{self.id:05d}"


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        CheckConstraint("amount_minor = quantity * unit_amount_minor", name="amount_is_quantity_times_unit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    kind: Mapped[LineKind] = mapped_column(str_enum(LineKind), default=LineKind.REGULAR)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    period: Mapped[str] = mapped_column(String(7))  # the month this line bills
    # Negative on an adjustment that gives money back.
    quantity: Mapped[int]
    unit_amount_minor: Mapped[int]
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text)
    # The line's tax in minor units, rounded per line (metering.rating.line_tax), and the rate it
    # was computed with as it stood then: a later change of the rate never changes this line.
    tax_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    tax_rate_id: Mapped[int | None] = mapped_column(ForeignKey("tax_rates.id", ondelete="SET NULL"))
    tax_name: Mapped[str | None] = mapped_column(String(100))
    tax_rate_ppm: Mapped[int | None]
    tax_inclusive: Mapped[bool] = mapped_column(default=False, server_default=false())

    invoice: Mapped[Invoice] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class BillingPeriodState(Base):
    """When a month was last fully closed and when it was finalized, reseller-wide."""

    __tablename__ = "billing_periods"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    # Start of the last close run that went through every client: the ledger snapshot it billed.
    closed_at: Mapped[datetime | None]
    finalized_at: Mapped[datetime | None]


class CloseRunStatus(enum.StrEnum):
    RUNNING = "running"  # queued or working through the clients
    FINISHED = "finished"  # went through every client it could (failures listed)
    FAILED = "failed"  # stopped before the end; nothing after the last finished batch was done


class CloseRun(Base):
    """One month close started from the console, as its page shows it: progress, then the outcome.

    Written only by :mod:`metering.billing.close_runs`: started by the console, advanced by the
    ``metering.close_month`` task in its own transactions (one per batch of clients).
    """

    __tablename__ = "close_runs"
    __table_args__ = (
        Index("ix_close_runs_period", "period", "id"),
        # No two closes of one month at once, even when two people press the button together.
        Index(
            "uq_close_runs_running_period",
            "period",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7))  # "YYYY-MM"
    status: Mapped[CloseRunStatus] = mapped_column(str_enum(CloseRunStatus), default=CloseRunStatus.RUNNING)
    # None until the worker has read the month and knows how many clients it visits.
    clients_total: Mapped[int | None]
    clients_done: Mapped[int] = mapped_column(default=0)
    # CloseOutcome value -> clients, and client ref -> why it failed.
    outcomes: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    failures: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Why the whole run stopped (status failed).
    error: Mapped[str | None] = mapped_column(Text)
    # Fanned out over workers (metering.close_month_batch): how many batches, and the numbers of
    # those done (a batch delivered twice counts once). None: the run was closed in one worker.
    batches_total: Mapped[int | None]
    batches_finished: Mapped[list[int] | None] = mapped_column(JSON)
    started_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The actor's label, kept as text so it still reads well after the user is removed.
    started_by: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Moved on each batch: a running close that stops moving has lost its worker.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class BillingAccount(Base):
    """A client's side of Stripe: its Customer, its card, and whether dunning suspended it."""

    __tablename__ = "billing_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_method_id: Mapped[str | None] = mapped_column(String(255))
    card_brand: Mapped[str | None] = mapped_column(String(32))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    suspended_for_nonpayment_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship()


class StripeEvent(Base):
    """A Stripe webhook event that was applied; a second delivery of the same id changes nothing."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class FinalizedInvoiceChanged(RuntimeError):
    """A programming error: something tried to change a finalized invoice's content."""


_FROZEN_INVOICE_COLUMNS = (
    "client_id",
    "period",
    "currency",
    "total_minor",
    "subtotal_minor",
    "tax_minor",
    "parties",
    "starts_at",
    "ends_at",
    "built_at",
)


def _original(obj: Any, attribute: str) -> Any:
    history = inspect(obj).attrs[attribute].history
    if history.deleted:
        return history.deleted[0]
    return getattr(obj, attribute)


def _status_before(invoice: Invoice) -> InvoiceStatus:
    return InvoiceStatus(_original(invoice, "status"))


@event.listens_for(Session, "before_flush")
def _finalized_invoices_never_change(session: Session, _context: Any, _instances: Any) -> None:
    """Refuse any flush that edits, adds or removes a line of a finalized invoice, or edits its total.

    Services never try; this guard makes a mistake fail loudly instead of silently rewriting a bill
    the client already received.
    """
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Invoice) and inspect(obj).persistent and _status_before(obj).is_final:
            changed = [name for name in _FROZEN_INVOICE_COLUMNS if inspect(obj).attrs[name].history.deleted]
            if changed or obj in session.deleted:
                raise FinalizedInvoiceChanged(f"invoice {obj.id} is finalized; cannot change {changed}")
        if isinstance(obj, InvoiceLine) and inspect(obj).persistent:
            invoice_id = _original(obj, "invoice_id")
            invoice = session.get(Invoice, invoice_id)
            if invoice is not None and _status_before(invoice).is_final:
                raise FinalizedInvoiceChanged(f"line {obj.id} belongs to finalized invoice {invoice_id}")
    for obj in session.new:
        invoice = obj.invoice if isinstance(obj, InvoiceLine) else None
        if invoice is not None and inspect(invoice).persistent and _status_before(invoice).is_final:
            raise FinalizedInvoiceChanged(f"cannot add a line to finalized invoice {obj.invoice.id}")
