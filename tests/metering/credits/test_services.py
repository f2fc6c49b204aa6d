"""Credit notes: issued against an issued invoice, numbered, immutable, and never a negative invoice."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from metering.billing.models import Invoice, InvoiceStatus
from metering.credits import lifecycle
from metering.credits.balances import invoice_balance
from metering.credits.models import (
    CreditApplication,
    CreditNote,
    CreditNoteSource,
    CreditNoteStatus,
    IssuedCreditNoteChanged,
    PaymentMethod,
    Settlement,
)
from metering.credits.payments import record_payment
from metering.credits.services import issue_credit_note
from metering.tax.services import create_tax_rate, set_client_tax
from portal.audit.models import AuditEvent
from portal.db import db, utcnow
from portal.errors import Conflict, InvalidInput
from tests.metering.months import TESTS, event


def _count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def _actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_an_amount_lowers_the_balance_and_the_notes_are_numbered_in_sequence(october):
    first = issue_credit_note(TESTS, october, "Desktop down for two days", utcnow(), amount_minor=500)
    second = issue_credit_note(TESTS, october, "Goodwill", utcnow(), amount_minor=400)
    db.session.commit()

    assert (first.number, second.number) == ("CN-0001", "CN-0002")
    assert first.reduces_invoice_minor == 500
    assert first.status is CreditNoteStatus.SETTLED
    assert [line.description for line in first.lines] == ["Credit: Desktop down for two days"]
    assert invoice_balance(october).balance_minor == 3900 - 900
    assert october.status is InvoiceStatus.FINALIZED
    issued = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "credit_note.issued")).all()
    assert [event.details["number"] for event in issued] == ["CN-0001", "CN-0002"]
    assert issued[0].details["reason"] == "Desktop down for two days"


def test_crediting_every_line_settles_the_invoice(october):
    (line,) = october.lines

    note = issue_credit_note(TESTS, october, "Never delivered", utcnow(), line_ids=[line.id])
    db.session.commit()

    assert note.amount_minor == 3900
    assert note.lines[0].invoice_line_id == line.id
    assert october.status is InvoiceStatus.PAID
    assert invoice_balance(october).balance_minor == 0
    assert "invoice.paid" in _actions()


def test_a_credit_note_larger_than_what_is_left_is_refused_and_nothing_is_saved(october):
    issue_credit_note(TESTS, october, "Outage", utcnow(), amount_minor=1000)
    db.session.commit()
    before = _count(CreditNote), _actions()

    with pytest.raises(InvalidInput) as refused:
        issue_credit_note(TESTS, october, "Too much", utcnow(), amount_minor=3000)
    db.session.rollback()

    assert refused.value.message == (
        f"A credit note of $30.00 is larger than what is left to credit on invoice {october.number} ($29.00)."
    )
    assert (_count(CreditNote), _actions()) == before
    # The whole line is more than is left after the first note, too.
    with pytest.raises(InvalidInput, match="larger than what is left"):
        issue_credit_note(TESTS, october, "The line", utcnow(), line_ids=[october.lines[0].id])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount_minor": 0}, "A credit note must be for more than zero."),
        ({"amount_minor": -100}, "A credit note must be for more than zero."),
        ({}, "Choose the lines to credit, or enter an amount, not both."),
        ({"amount_minor": 100, "line_ids": [1]}, "Choose the lines to credit, or enter an amount, not both."),
        ({"line_ids": [999999]}, "has no such line."),
    ],
)
def test_bad_credit_notes_are_refused(october, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        issue_credit_note(TESTS, october, "Reason", utcnow(), **kwargs)
    db.session.rollback()
    assert _count(CreditNote) == 0


def test_a_reason_is_required(october):
    with pytest.raises(InvalidInput, match="Say why"):
        issue_credit_note(TESTS, october, "   ", utcnow(), amount_minor=100)


def test_a_draft_cannot_be_credited(month, acme, travel):
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    draft = db.session.scalars(select(Invoice)).one()

    with pytest.raises(Conflict, match="still a draft"):
        issue_credit_note(TESTS, draft, "Reason", utcnow(), amount_minor=100)


def test_crediting_a_paid_invoice_asks_where_the_money_goes(october):
    record_payment(TESTS, october, 3900, PaymentMethod.TRANSFER, utcnow().date(), "BANK-1", utcnow())
    db.session.commit()
    assert october.status is InvoiceStatus.PAID

    with pytest.raises(InvalidInput, match="is refunded or kept for the next invoice"):
        issue_credit_note(TESTS, october, "Outage", utcnow(), amount_minor=1000)
    with pytest.raises(InvalidInput, match="Only money paid through Stripe"):
        issue_credit_note(
            TESTS, october, "Outage", utcnow(), amount_minor=1000, settlement=Settlement.REFUND_STRIPE
        )

    kept = issue_credit_note(
        TESTS, october, "Outage", utcnow(), amount_minor=1000, settlement=Settlement.NEXT_INVOICE
    )
    refunded = issue_credit_note(
        TESTS, october, "Goodwill", utcnow(), amount_minor=500, settlement=Settlement.REFUNDED_OUTSIDE
    )
    db.session.commit()

    assert (kept.carry_minor, kept.status) == (1000, CreditNoteStatus.OPEN)
    assert (refunded.refund_minor, refunded.status) == (500, CreditNoteStatus.SETTLED)
    assert invoice_balance(october).balance_minor == 0


def test_an_issued_credit_note_never_changes(october):
    note = issue_credit_note(TESTS, october, "Outage", utcnow(), amount_minor=500)
    db.session.commit()

    note.amount_minor = 100
    with pytest.raises(IssuedCreditNoteChanged):
        db.session.flush()
    db.session.rollback()
    note.lines[0].description = "Something else"
    with pytest.raises(IssuedCreditNoteChanged):
        db.session.flush()
    db.session.rollback()
    db.session.delete(note)
    with pytest.raises(IssuedCreditNoteChanged):
        db.session.flush()


def test_a_month_whose_corrections_net_negative_is_a_credit_note_used_on_the_next_invoice(
    month, acme, travel
):
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-09-20T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    # The RMM reports, late, that alice's desktop was removed on Sep 28: October owes nothing for her.
    month.events(event("e2", "acme", "alice@acme.example", "desktop", "stop", "2026-09-28T09:00:00Z"))
    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")
    month.finalize("2026-11")

    db.session.expire_all()
    november = month.invoice_row(acme.id, "2026-11")
    assert november.total_minor == -3900
    # Nothing to collect: no negative invoice goes out; the client gets a credit note instead.
    assert november.status is InvoiceStatus.PAID
    (note,) = db.session.scalars(select(CreditNote)).all()
    assert (note.number, note.invoice_id, note.amount_minor) == ("CN-0001", november.id, 3900)
    assert note.source is CreditNoteSource.MONTH_CLOSE
    assert (note.carry_minor, note.status) == (3900, CreditNoteStatus.OPEN)
    assert [(line.description, line.amount_minor) for line in note.lines] == [
        (november.lines[0].description, 3900)
    ]

    # December bills bob's new desktop (39.00) and one mailbox (8.00): the credit pays 39.00 of it.
    month.events(
        event("e3", "acme", "bob@acme.example", "desktop", "start", "2026-12-03T09:00:00Z"),
        event("e4", "acme", "bob@acme.example", "exchange", "start", "2026-12-03T09:00:00Z"),
    )
    travel("2027-01-02T12:00:00Z")
    month.close("2026-12")
    month.finalize("2026-12")
    db.session.expire_all()
    december = month.invoice_row(acme.id, "2026-12")
    assert december.total_minor == 4700
    (application,) = db.session.scalars(select(CreditApplication)).all()
    assert (application.invoice_id, application.amount_minor) == (december.id, 3900)
    assert invoice_balance(december).balance_minor == 800
    assert december.status is InvoiceStatus.FINALIZED
    assert db.session.get(CreditNote, note.id).status is CreditNoteStatus.SETTLED
    assert {"credit_note.issued", "credit_note.applied"} <= set(_actions())


def test_carried_credit_is_used_over_several_invoices_until_it_is_gone(october):
    record_payment(TESTS, october, 3900, PaymentMethod.TRANSFER, utcnow().date(), "", utcnow())
    note = issue_credit_note(
        TESTS, october, "Goodwill", utcnow(), amount_minor=3000, settlement=Settlement.NEXT_INVOICE
    )
    db.session.flush()

    first = lifecycle.use_credit(note, october.id, 1000, utcnow())
    assert lifecycle.unused_credit(note) == 2000
    assert note.status is CreditNoteStatus.OPEN
    lifecycle.use_credit(note, october.id, 2000, utcnow())
    db.session.commit()

    assert [application.amount_minor for application in note.applications] == [1000, 2000]
    assert first in note.applications
    assert (lifecycle.unused_credit(note), note.status) == (0, CreditNoteStatus.SETTLED)
    with pytest.raises(Conflict):
        lifecycle.use_credit(note, october.id, 1, utcnow())


def test_crediting_a_taxed_line_gives_back_its_tax_too(month, acme, travel):
    rate = create_tax_rate(TESTS, "VAT", "23", False, "PL")
    set_client_tax(TESTS, acme, rate.id, False, None)
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    db.session.expire_all()
    invoice = db.session.scalars(select(Invoice).where(Invoice.period == "2026-10")).one()
    (line,) = invoice.lines
    assert (line.amount_minor, line.tax_minor, invoice.total_minor) == (3900, 897, 4797)

    note = issue_credit_note(TESTS, invoice, "Never delivered", utcnow(), line_ids=[line.id])
    db.session.commit()

    # The client paid (or owes) the line with its 23 %: crediting the line in full gives back both.
    assert note.amount_minor == 4797
    assert invoice_balance(invoice).balance_minor == 0
    assert invoice.status is InvoiceStatus.PAID
