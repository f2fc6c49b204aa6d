"""Credit notes, the credit they leave for later invoices, and payments received.

A *credit note* is a document of its own, numbered ``CN-0001`` upwards (one sequence for the
installation, which is one reseller), issued against one finalized invoice. Its content (amount,
lines, reason, how the credit is settled) never changes once issued; only its state moves, through
:mod:`metering.credits.lifecycle`. Its amount is split when it is issued:

* ``reduces_invoice_minor`` lowers what is still owed on its own invoice;
* the rest, when that invoice was already (partly) paid, is either given back
  (``refund_minor``) or kept as credit for the client's next invoices (``carry_minor``), used by
  :class:`CreditApplication` rows as those invoices are finalized.

A *payment* is money received against one invoice: from Stripe, or entered by the reseller (a bank
transfer, a cheque). An invoice's balance is its total less the credit notes that reduce it, the
carried credit applied to it, and its payments (:mod:`metering.credits.balances`).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, event, false, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from metering.billing.models import Invoice, InvoiceLine
from portal.accounts.models import Client, str_enum
from portal.db import Base, utcnow


class CreditNoteStatus(enum.StrEnum):
    OPEN = "open"  # credit carried to later invoices, not all used yet
    REFUND_DUE = "refund_due"  # money to give back through Stripe
    SETTLED = "settled"  # nothing left to do: it reduced its invoice, its credit was used, or refunded


class CreditNoteSource(enum.StrEnum):
    RESELLER = "reseller"  # issued by hand on the console
    MONTH_CLOSE = "month_close"  # a month whose corrections net negative


class Settlement(enum.StrEnum):
    """What happens to the part of a credit note its own invoice no longer owes."""

    NEXT_INVOICE = "next_invoice"
    REFUND_STRIPE = "refund_stripe"
    REFUNDED_OUTSIDE = "refunded_outside"  # the reseller pays it back by transfer or cheque


class PaymentMethod(enum.StrEnum):
    STRIPE = "stripe"
    TRANSFER = "transfer"
    CHEQUE = "cheque"
    CASH = "cash"
    OTHER = "other"


class CreditNote(Base):
    __tablename__ = "credit_notes"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "amount_minor = reduces_invoice_minor + refund_minor + carry_minor", name="amount_is_split"
        ),
        Index("ix_credit_notes_client_status", "client_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence: Mapped[int] = mapped_column(unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    source: Mapped[CreditNoteSource] = mapped_column(str_enum(CreditNoteSource))
    status: Mapped[CreditNoteStatus] = mapped_column(str_enum(CreditNoteStatus))
    settlement: Mapped[Settlement] = mapped_column(str_enum(Settlement))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int]
    reduces_invoice_minor: Mapped[int]
    refund_minor: Mapped[int] = mapped_column(default=0)
    carry_minor: Mapped[int] = mapped_column(default=0)
    # The tax inside amount_minor (the sum of its lines' taxes): the books post it to sales tax, not
    # income. The amount is always what the client gets back, tax included.
    tax_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    reason: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(300))
    settled_at: Mapped[datetime | None]
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255))
    # The Stripe credit note that lowered the open Stripe invoice's amount due by reduces_invoice_minor
    # (delivery bookkeeping, like Invoice.stripe_invoice_id): Stripe then charges only the balance.
    stripe_credit_note_id: Mapped[str | None] = mapped_column(String(255))

    client: Mapped[Client] = relationship()
    invoice: Mapped[Invoice] = relationship()
    lines: Mapped[list[CreditNoteLine]] = relationship(
        back_populates="credit_note", cascade="all, delete-orphan", order_by="CreditNoteLine.position"
    )
    applications: Mapped[list[CreditApplication]] = relationship(
        back_populates="credit_note", order_by="CreditApplication.id"
    )

    @property
    def number(self) -> str:
        return f"CN-{self.sequence:04d}"

    @property
    def subtotal_minor(self) -> int:
        """What is credited without its tax."""
        return self.amount_minor - self.tax_minor


class CreditNoteLine(Base):
    __tablename__ = "credit_note_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_note_id: Mapped[int] = mapped_column(ForeignKey("credit_notes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    # The invoice line credited in full, when the reseller picked lines (None for an amount).
    invoice_line_id: Mapped[int | None] = mapped_column(ForeignKey("invoice_lines.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    # Positive: money given back to the client, tax included (as the client paid or owed it).
    amount_minor: Mapped[int]
    # The tax part of amount_minor, rounded per line like the invoice's (metering.rating), and the rate
    # of the invoice line it credits as that line carried it (None when the invoice was untaxed).
    # tax_inclusive says how the invoice line was taxed; the credited amount includes the tax either way.
    tax_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    tax_name: Mapped[str | None] = mapped_column(String(100))
    tax_rate_ppm: Mapped[int | None]
    tax_inclusive: Mapped[bool] = mapped_column(default=False, server_default=false())

    credit_note: Mapped[CreditNote] = relationship(back_populates="lines")
    invoice_line: Mapped[InvoiceLine | None] = relationship()


class CreditApplication(Base):
    """Carried credit of a credit note used to pay (part of) a later invoice."""

    __tablename__ = "credit_applications"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_note_id: Mapped[int] = mapped_column(ForeignKey("credit_notes.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount_minor: Mapped[int]
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)

    credit_note: Mapped[CreditNote] = relationship(back_populates="applications")
    invoice: Mapped[Invoice] = relationship()


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_payments_client_received", "client_id", "received_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    method: Mapped[PaymentMethod] = mapped_column(str_enum(PaymentMethod))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # The bank's or cheque's reference, or Stripe's invoice id.
    reference: Mapped[str] = mapped_column(String(200), default="")
    # The day the money arrived, in the billing time zone (a bank statement's date).
    received_on: Mapped[date]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(300))

    invoice: Mapped[Invoice] = relationship()
    client: Mapped[Client] = relationship()


class IssuedCreditNoteChanged(RuntimeError):
    """A programming error: something tried to change an issued credit note's content."""


_FROZEN_CREDIT_NOTE_COLUMNS = (
    "sequence",
    "client_id",
    "invoice_id",
    "source",
    "settlement",
    "currency",
    "amount_minor",
    "reduces_invoice_minor",
    "refund_minor",
    "carry_minor",
    "tax_minor",
    "reason",
    "issued_at",
    "issued_by",
)


@event.listens_for(Session, "before_flush")
def _issued_credit_notes_never_change(session: Session, _context: Any, _instances: Any) -> None:
    """A credit note is issued as it is created: afterwards only its state and settlement move."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, CreditNote) and inspect(obj).persistent:
            changed = [
                name for name in _FROZEN_CREDIT_NOTE_COLUMNS if inspect(obj).attrs[name].history.deleted
            ]
            if changed or obj in session.deleted:
                raise IssuedCreditNoteChanged(f"credit note {obj.id} is issued; cannot change {changed}")
        if isinstance(obj, CreditNoteLine) and inspect(obj).persistent:
            raise IssuedCreditNoteChanged(f"line {obj.id} belongs to an issued credit note")
    for obj in session.new:
        if isinstance(obj, CreditNoteLine):
            note = obj.credit_note
            if note is not None and inspect(note).persistent:
                raise IssuedCreditNoteChanged(f"cannot add a line to issued credit note {note.id}")
