"""Payments the reseller enters on the console (a transfer, a cheque); Stripe's are recorded by dunning."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from metering.billing.dunning import settle_if_paid_off
from metering.billing.models import Invoice, InvoiceStatus
from metering.credits.balances import invoice_balance
from metering.credits.models import Payment, PaymentMethod
from metering.quickbooks.services import schedule_sync as schedule_quickbooks_sync
from metering.settings import billing_timezone
from portal.audit.services import Actor, record
from portal.db import db
from portal.errors import Conflict, InvalidInput
from portal.money import format_amount

MAX_PAYMENT_REFERENCE = 200
MANUAL_METHODS = (PaymentMethod.TRANSFER, PaymentMethod.CHEQUE, PaymentMethod.CASH, PaymentMethod.OTHER)


class NotPayable(Conflict):
    """The invoice is not open for payment (a draft, or nothing is owed)."""


def record_payment(
    actor: Actor,
    invoice: Invoice,
    amount_minor: int,
    method: PaymentMethod,
    received_on: date,
    reference: str,
    now: datetime,
) -> Payment:
    """Money received for an invoice, whole or in part. The invoice is paid when nothing is left owed."""
    # Two payments (or a payment and a credit note) at once must not both take the same balance.
    db.session.refresh(invoice, with_for_update=True)
    if invoice.status is InvoiceStatus.DRAFT:
        raise NotPayable(
            f"Invoice {invoice.number} is a draft: it can be paid once it is approved and issued."
        )
    if invoice.status is InvoiceStatus.PAID:
        raise NotPayable(f"Invoice {invoice.number} is paid already; nothing is owed on it.")
    if invoice.status is InvoiceStatus.VOID:
        raise NotPayable(f"Invoice {invoice.number} is void: nothing is owed on it.")
    if method not in MANUAL_METHODS:
        raise InvalidInput("Choose how the money came in.", fields={"method": "Choose a method."})
    if amount_minor <= 0:
        raise InvalidInput(
            "A payment must be for more than zero.", fields={"amount": "Enter more than zero."}
        )
    owed = invoice_balance(invoice).balance_minor
    if amount_minor > owed:
        left = format_amount(owed, invoice.currency)
        raise InvalidInput(
            f"{format_amount(amount_minor, invoice.currency)} is more than the {left} still owed on "
            f"invoice {invoice.number}.",
            fields={"amount": f"At most {left}."},
        )
    today = now.astimezone(billing_timezone()).date()
    if received_on > today:
        raise InvalidInput(
            "The payment date is in the future.", fields={"received_on": "Use the day the money arrived."}
        )
    reference = (reference or "").strip()
    if len(reference) > MAX_PAYMENT_REFERENCE:
        raise InvalidInput(
            f"Keep the reference under {MAX_PAYMENT_REFERENCE} characters.",
            fields={"reference": f"At most {MAX_PAYMENT_REFERENCE} characters."},
        )
    payment = Payment(
        invoice_id=invoice.id,
        client_id=invoice.client_id,
        method=method,
        amount_minor=amount_minor,
        currency=invoice.currency,
        reference=reference,
        received_on=received_on,
        recorded_at=now,
        recorded_by=actor.label,
    )
    db.session.add(payment)
    db.session.flush()
    record(
        actor,
        "payment.recorded",
        "payment",
        payment.id,
        client_id=invoice.client_id,
        details={
            "invoice": invoice.number,
            "amount_minor": amount_minor,
            "currency": invoice.currency,
            "method": method.value,
            "reference": reference,
            "received_on": received_on.isoformat(),
            "balance_minor": owed - amount_minor,
        },
    )
    settle_if_paid_off(actor, invoice, now, how="payments")
    schedule_quickbooks_sync()
    return payment


def payments_of(*, invoice_id: int | None = None, client_id: int | None = None) -> list[Payment]:
    query = select(Payment).order_by(Payment.received_on, Payment.id)
    if invoice_id is not None:
        query = query.where(Payment.invoice_id == invoice_id)
    if client_id is not None:
        query = query.where(Payment.client_id == client_id)
    return list(db.session.scalars(query))


def payments_received_between(first: date, last: date) -> list[Payment]:
    """Payments whose money arrived on a day in ``[first, last]`` (the books' month)."""
    return list(
        db.session.scalars(
            select(Payment)
            .options(selectinload(Payment.invoice), selectinload(Payment.client))
            .where(Payment.received_on >= first, Payment.received_on <= last)
            .order_by(Payment.received_on, Payment.id)
        )
    )
