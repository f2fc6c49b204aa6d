"""Issuing credit notes, and using the credit they carry on the client's next invoices.

Services flush; the edge commits. Every credit note issued and every use of carried credit is in the
audit log.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from metering.billing.dunning import settle_if_paid_off
from metering.billing.models import Invoice, InvoiceLine, InvoiceStatus
from metering.credits import lifecycle
from metering.credits.balances import invoice_balance
from metering.credits.models import (
    CreditApplication,
    CreditNote,
    CreditNoteLine,
    CreditNoteSource,
    CreditNoteStatus,
    Payment,
    PaymentMethod,
    Settlement,
)
from metering.credits.stripe_credit_notes import due_in_stripe
from metering.periods import BillingPeriod
from metering.quickbooks.services import schedule_sync as schedule_quickbooks_sync
from metering.rating import TaxRule, line_tax, tax_share
from portal.accounts.models import Reseller
from portal.audit.services import Actor, record
from portal.celery_app import enqueue_after_commit
from portal.db import db
from portal.errors import Conflict, InvalidInput, NotFound
from portal.money import format_amount

MAX_CREDIT_REASON = 500


class NotCreditable(Conflict):
    """Only an issued invoice can be credited."""


def _next_sequence() -> int:
    # The reseller's row (one per installation) is the lock that keeps two numbers apart.
    db.session.scalars(select(Reseller).with_for_update()).first()
    return int(db.session.scalar(select(func.max(CreditNote.sequence))) or 0) + 1


def _credited_line_ids(invoice: Invoice) -> set[int]:
    return set(
        db.session.scalars(
            select(CreditNoteLine.invoice_line_id)
            .join(CreditNote, CreditNote.id == CreditNoteLine.credit_note_id)
            .where(CreditNote.invoice_id == invoice.id, CreditNoteLine.invoice_line_id.is_not(None))
        )
    )


def _lines_to_credit(invoice: Invoice, line_ids: Iterable[int], reason: str) -> list[CreditNoteLine]:
    wanted = set(line_ids)
    own = {line.id: line for line in invoice.lines}
    unknown = wanted - set(own)
    if unknown:
        raise InvalidInput(
            f"Invoice {invoice.number} has no such line.", fields={"lines": "Choose lines of this invoice."}
        )
    already = wanted & _credited_line_ids(invoice)
    if already:
        names = ", ".join(own[line_id].description for line_id in sorted(already))
        raise InvalidInput(
            f"Already credited: {names}.", fields={"lines": "A line can be credited only once."}
        )
    chosen = [own[line_id] for line_id in sorted(wanted, key=lambda line_id: own[line_id].position)]
    if any(line.amount_minor <= 0 for line in chosen):
        raise InvalidInput(
            "A line that gives money back already cannot be credited.",
            fields={"lines": "Choose lines with a positive amount."},
        )
    return [
        CreditNoteLine(
            position=position,
            invoice_line_id=line.id,
            description=line.description,
            amount_minor=_owed_for(line),
            # Credited in full: all of the line's tax goes back with it.
            **_tax_of(line, sign=1),
        )
        for position, line in enumerate(chosen)
    ]


def _tax_of(line: InvoiceLine, sign: int) -> dict[str, Any]:
    return {
        "tax_minor": sign * line.tax_minor,
        "tax_name": line.tax_name,
        "tax_rate_ppm": line.tax_rate_ppm,
        "tax_inclusive": line.tax_inclusive,
    }


def _credit_of_amount(invoice: Invoice, amount_minor: int, description: str) -> CreditNoteLine:
    """One line of ``amount_minor`` (tax included, as the client paid it) and the tax inside it.

    On an invoice taxed at one rate, the tax is that rate's part of the amount, rounded like an
    inclusive invoice line (metering.rating.line_tax). On one with several rates (or taxed and
    untaxed lines), the credit carries the invoice's own proportion of tax, and no single rate.
    """
    rates = {(line.tax_name, line.tax_rate_ppm, line.tax_inclusive) for line in invoice.lines}
    if len(rates) == 1:
        name, rate_ppm, inclusive = next(iter(rates))
        if rate_ppm is not None:
            tax = line_tax(amount_minor, TaxRule(name or "", rate_ppm, inclusive=True))
            return CreditNoteLine(
                position=0,
                description=description,
                amount_minor=amount_minor,
                tax_minor=tax,
                tax_name=name,
                tax_rate_ppm=rate_ppm,
                tax_inclusive=inclusive,
            )
    taxed = [line for line in invoice.lines if line.tax_rate_ppm is not None]
    return CreditNoteLine(
        position=0,
        description=description,
        amount_minor=amount_minor,
        tax_minor=tax_share(amount_minor, invoice.tax_minor, invoice.total_minor),
        tax_inclusive=bool(taxed) and all(line.tax_inclusive for line in taxed),
    )


def _owed_for(line: InvoiceLine) -> int:
    # What the client was charged for the line: an added (exclusive) tax is on top of its amount,
    # an included one is inside it. Crediting the line in full gives back all of it.
    return line.amount_minor + (0 if line.tax_inclusive else line.tax_minor)


def _refundable_through_stripe(invoice: Invoice) -> int:
    """What Stripe collected on the invoice, less what earlier credit notes refund through Stripe."""
    collected = db.session.scalar(
        select(func.sum(Payment.amount_minor)).where(
            Payment.invoice_id == invoice.id, Payment.method == PaymentMethod.STRIPE
        )
    )
    refunded = db.session.scalar(
        select(func.sum(CreditNote.refund_minor)).where(
            CreditNote.invoice_id == invoice.id, CreditNote.settlement == Settlement.REFUND_STRIPE
        )
    )
    return int(collected or 0) - int(refunded or 0)


def issue_credit_note(
    actor: Actor,
    invoice: Invoice,
    reason: str,
    now: datetime,
    *,
    amount_minor: int | None = None,
    line_ids: Iterable[int] = (),
    settlement: Settlement | None = None,
) -> CreditNote:
    """Credit some lines of an issued invoice, or an amount, with a reason.

    The credit first lowers what the invoice still owes; whatever the invoice no longer owes (it was
    paid) is refunded outside Seatmeter or kept for the client's next invoices, as ``settlement``
    says. Nothing is saved when any check fails.
    """
    # Two credit notes (or a credit note and a payment) at once must not both take the same balance.
    db.session.refresh(invoice, with_for_update=True)
    if invoice.status is InvoiceStatus.DRAFT:
        raise NotCreditable(
            f"Invoice {invoice.number} is still a draft: change it by closing the month again. "
            "Only an issued invoice can be credited."
        )
    if invoice.status is InvoiceStatus.VOID:
        raise NotCreditable(f"Invoice {invoice.number} is void: nothing was owed on it to credit.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the client is credited.", fields={"reason": "Say why."})
    if len(reason) > MAX_CREDIT_REASON:
        raise InvalidInput(
            f"Keep the reason under {MAX_CREDIT_REASON} characters.",
            fields={"reason": f"At most {MAX_CREDIT_REASON} characters."},
        )
    line_ids = list(line_ids)
    if (amount_minor is None) == (not line_ids):
        raise InvalidInput(
            "Choose the lines to credit, or enter an amount, not both.",
            fields={"amount": "Enter an amount, or choose lines instead."},
        )
    if line_ids:
        lines = _lines_to_credit(invoice, line_ids, reason)
    else:
        assert amount_minor is not None
        if amount_minor <= 0:
            raise InvalidInput(
                "A credit note must be for more than zero.", fields={"amount": "Enter more than zero."}
            )
        lines = [_credit_of_amount(invoice, amount_minor, f"Credit: {reason}")]
    amount = sum(line.amount_minor for line in lines)

    balance = invoice_balance(invoice)
    if amount > balance.creditable_minor:
        left = format_amount(balance.creditable_minor, invoice.currency)
        raise InvalidInput(
            f"A credit note of {format_amount(amount, invoice.currency)} is larger than what is left to "
            f"credit on invoice {invoice.number} ({left}).",
            fields={"amount": f"At most {left}."},
        )
    reduces = min(amount, balance.balance_minor) if invoice.status is not InvoiceStatus.PAID else 0
    rest = amount - reduces
    if rest and settlement is None:
        raise InvalidInput(
            f"Invoice {invoice.number} is paid (or partly paid): say whether the "
            f"{format_amount(rest, invoice.currency)} it no longer owes is refunded or kept for the "
            "next invoice.",
            fields={"settlement": "Choose what happens to the money already paid."},
        )
    settlement = settlement or Settlement.NEXT_INVOICE
    if rest and settlement is Settlement.REFUND_STRIPE and _refundable_through_stripe(invoice) < rest:
        raise InvalidInput(
            "Only money paid through Stripe can be refunded through Stripe.",
            fields={"settlement": "Refund it outside Seatmeter, or keep it for the next invoice."},
        )
    note = CreditNote(
        sequence=_next_sequence(),
        client_id=invoice.client_id,
        invoice_id=invoice.id,
        source=CreditNoteSource.RESELLER,
        settlement=settlement,
        currency=invoice.currency,
        amount_minor=amount,
        reduces_invoice_minor=reduces,
        refund_minor=rest if settlement is not Settlement.NEXT_INVOICE else 0,
        carry_minor=rest if settlement is Settlement.NEXT_INVOICE else 0,
        tax_minor=sum(line.tax_minor for line in lines),
        reason=reason,
        issued_by=actor.label,
        lines=lines,
    )
    return _issued(actor, note, invoice, now)


def _issued(actor: Actor, note: CreditNote, invoice: Invoice, now: datetime) -> CreditNote:
    lifecycle.issue(note, now)
    db.session.add(note)
    db.session.flush()
    record(
        actor,
        "credit_note.issued",
        "credit_note",
        note.id,
        client_id=note.client_id,
        details={
            "number": note.number,
            "invoice": invoice.number,
            "amount_minor": note.amount_minor,
            "currency": note.currency,
            "reason": note.reason,
            "reduces_invoice_minor": note.reduces_invoice_minor,
            "refund_minor": note.refund_minor,
            "carry_minor": note.carry_minor,
            "settlement": note.settlement.value,
            "status": note.status.value,
        },
    )
    # Asked before the credit may settle the invoice here: Stripe's copy is still open either way.
    if due_in_stripe(note, invoice):
        enqueue_after_commit("metering.send_credit_note_to_stripe", note.id)
    if note.reduces_invoice_minor:
        settle_if_paid_off(actor, invoice, now, how=f"credit note {note.number}")
    if note.status is CreditNoteStatus.REFUND_DUE:
        # Stripe is called by the worker once this commits, never inside the transaction.
        enqueue_after_commit("metering.refund_credit_note", note.id)
    schedule_quickbooks_sync()
    return note


def issue_month_credit_note(actor: Actor, invoice: Invoice, now: datetime) -> CreditNote:
    """A month whose lines net below zero: the client gets a credit note, never a negative invoice.

    The invoice keeps its lines (later corrections of the month count what it billed); the credit
    note carries the same lines, money back, and its credit goes to the client's next invoices.
    """
    if invoice.total_minor >= 0 or invoice.status is InvoiceStatus.DRAFT:
        raise Conflict(f"Invoice {invoice.number} does not net below zero; there is nothing to credit.")
    amount = -invoice.total_minor
    label = BillingPeriod.parse(invoice.period).label
    note = CreditNote(
        sequence=_next_sequence(),
        client_id=invoice.client_id,
        invoice_id=invoice.id,
        source=CreditNoteSource.MONTH_CLOSE,
        settlement=Settlement.NEXT_INVOICE,
        currency=invoice.currency,
        amount_minor=amount,
        reduces_invoice_minor=0,
        refund_minor=0,
        carry_minor=amount,
        tax_minor=-invoice.tax_minor,
        reason=f"{label}: the month's corrections give back more than it bills",
        issued_by=actor.label,
        # Each line as the client is owed it, its tax included, so the lines add up to the note.
        lines=[
            CreditNoteLine(
                position=line.position,
                description=line.description,
                amount_minor=-_owed_for(line),
                **_tax_of(line, sign=-1),
            )
            for line in invoice.lines
        ],
    )
    return _issued(actor, note, invoice, now)


def apply_carried_credit(actor: Actor, invoice: Invoice, now: datetime) -> int:
    """Use the client's open credit (oldest note first) on a newly issued invoice. Returns the amount used."""
    if invoice.status is not InvoiceStatus.FINALIZED:
        return 0
    owed = invoice_balance(invoice).balance_minor
    used_total = 0
    notes = db.session.scalars(
        select(CreditNote)
        .where(
            CreditNote.client_id == invoice.client_id,
            CreditNote.status == CreditNoteStatus.OPEN,
            CreditNote.currency == invoice.currency,
            CreditNote.invoice_id != invoice.id,
        )
        .order_by(CreditNote.sequence)
        .with_for_update()
    )
    for note in notes:
        if owed <= 0:
            break
        amount = min(lifecycle.unused_credit(note), owed)
        if amount <= 0:
            continue
        lifecycle.use_credit(note, invoice.id, amount, now)
        owed -= amount
        used_total += amount
        db.session.flush()
        record(
            actor,
            "credit_note.applied",
            "credit_note",
            note.id,
            client_id=note.client_id,
            details={
                "number": note.number,
                "invoice": invoice.number,
                "amount_minor": amount,
                "currency": note.currency,
                "unused_minor": lifecycle.unused_credit(note),
            },
        )
    if used_total:
        settle_if_paid_off(actor, invoice, now, how="carried credit")
    return used_total


def credit_applied_to(invoice: Invoice) -> list[CreditApplication]:
    """Carried credit used on this invoice, oldest first."""
    return list(
        db.session.scalars(
            select(CreditApplication)
            .where(CreditApplication.invoice_id == invoice.id)
            .order_by(CreditApplication.id)
        )
    )


def get_credit_note(credit_note_id: int, client_id: int | None = None) -> CreditNote:
    """A credit note by id; with ``client_id``, only that client's (another's is not found)."""
    note = db.session.get(CreditNote, credit_note_id)
    if note is None or (client_id is not None and note.client_id != client_id):
        raise NotFound("No such credit note.")
    return note


# What pages and exports show of each credit note, loaded with it rather than one query per note.
_SHOWN_WITH = (selectinload(CreditNote.invoice), selectinload(CreditNote.client))


def credit_notes_of(*, client_id: int | None = None, invoice_id: int | None = None) -> list[CreditNote]:
    query = select(CreditNote).options(*_SHOWN_WITH).order_by(CreditNote.sequence)
    if client_id is not None:
        query = query.where(CreditNote.client_id == client_id)
    if invoice_id is not None:
        query = query.where(CreditNote.invoice_id == invoice_id)
    return list(db.session.scalars(query))


def credit_notes_issued_in(start: datetime, stop: datetime) -> list[CreditNote]:
    """Credit notes issued in ``[start, stop)``, by number (the books' month)."""
    return list(
        db.session.scalars(
            select(CreditNote)
            .options(*_SHOWN_WITH, selectinload(CreditNote.lines).selectinload(CreditNoteLine.invoice_line))
            .where(CreditNote.issued_at >= start, CreditNote.issued_at < stop)
            .order_by(CreditNote.sequence)
        )
    )
