"""What is left to pay on an invoice: its total less credit notes, carried credit used, and payments."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from metering.billing.models import Invoice, InvoiceStatus
from metering.credits.models import CreditApplication, CreditNote, Payment
from portal.db import db


@dataclass(frozen=True)
class InvoiceBalance:
    total_minor: int
    # Credit notes against this invoice: their whole amount, and the part that lowers what it owes.
    credit_notes_minor: int
    credited_minor: int
    # Credit carried over from earlier credit notes and used on this invoice.
    credit_applied_minor: int
    paid_minor: int

    @property
    def balance_minor(self) -> int:
        """Still owed; never below zero (a document that would be is a credit note)."""
        owed = self.total_minor - self.credited_minor - self.credit_applied_minor - self.paid_minor
        return max(owed, 0)

    @property
    def creditable_minor(self) -> int:
        """What a new credit note against this invoice may still take back."""
        return max(self.total_minor - self.credit_notes_minor, 0)


def _sums(column: Any, key: Any, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = db.session.execute(select(key, func.sum(column)).where(key.in_(ids)).group_by(key))
    return {int(owner): int(total or 0) for owner, total in rows}


def balances_for(invoices: Iterable[Invoice]) -> dict[int, InvoiceBalance]:
    """Each invoice's balance, in four grouped queries whatever the number of invoices."""
    chosen = list(invoices)
    ids = [invoice.id for invoice in chosen]
    notes = _sums(CreditNote.amount_minor, CreditNote.invoice_id, ids)
    credited = _sums(CreditNote.reduces_invoice_minor, CreditNote.invoice_id, ids)
    applied = _sums(CreditApplication.amount_minor, CreditApplication.invoice_id, ids)
    paid = _sums(Payment.amount_minor, Payment.invoice_id, ids)
    return {
        invoice.id: InvoiceBalance(
            total_minor=invoice.total_minor,
            credit_notes_minor=notes.get(invoice.id, 0),
            credited_minor=credited.get(invoice.id, 0),
            credit_applied_minor=applied.get(invoice.id, 0),
            paid_minor=paid.get(invoice.id, 0),
        )
        for invoice in chosen
    }


def invoice_balance(invoice: Invoice) -> InvoiceBalance:
    return balances_for([invoice])[invoice.id]


def is_collectable(invoice: Invoice) -> bool:
    """Issued and not settled: a payment or a credit may still go against it."""
    return invoice.status in (InvoiceStatus.FINALIZED, InvoiceStatus.OVERDUE)
