"""A credit note's states, which moves are allowed, and the only code that makes them.

::

    (issue) ──▶ settled            it only lowered what its own invoice still owed,
       │                           or its refund was made outside Seatmeter
       ├──────▶ open ──use──▶ open ──use──▶ settled      credit carried to later invoices
       └──────▶ refund_due ──refunded──▶ settled        money going back through Stripe

Every write of ``CreditNote.status`` and ``settled_at`` happens here; an illegal move raises
:class:`IllegalCreditNoteTransition`. The content of a credit note never changes after
:func:`issue` (a flush guard in :mod:`metering.credits.models` refuses it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from metering.credits.models import CreditApplication, CreditNote, CreditNoteStatus, Settlement
from portal.errors import Conflict

TRANSITIONS: Mapping[CreditNoteStatus, frozenset[CreditNoteStatus]] = {
    # An open note is used again (partly) until its carried credit is gone.
    CreditNoteStatus.OPEN: frozenset({CreditNoteStatus.OPEN, CreditNoteStatus.SETTLED}),
    CreditNoteStatus.REFUND_DUE: frozenset({CreditNoteStatus.SETTLED}),
    CreditNoteStatus.SETTLED: frozenset(),
}


class IllegalCreditNoteTransition(Conflict):
    """The credit note cannot make this move from the state it is in."""


def _move(note: CreditNote, target: CreditNoteStatus, doing: str) -> None:
    if target not in TRANSITIONS[note.status]:
        raise IllegalCreditNoteTransition(
            f"Credit note {note.number} is {note.status.value.replace('_', ' ')}; it cannot be {doing}."
        )
    if note.status is not target:
        note.status = target


def issue(note: CreditNote, now: datetime) -> CreditNoteStatus:
    """The first state of a new credit note, from how its amount was split."""
    if note.carry_minor > 0:
        note.status = CreditNoteStatus.OPEN
    elif note.refund_minor > 0 and note.settlement is Settlement.REFUND_STRIPE:
        note.status = CreditNoteStatus.REFUND_DUE
    else:
        note.status = CreditNoteStatus.SETTLED
        note.settled_at = now
    note.issued_at = now
    return note.status


def unused_credit(note: CreditNote) -> int:
    """Carried credit not used by a later invoice yet."""
    return note.carry_minor - sum(application.amount_minor for application in note.applications)


def use_credit(note: CreditNote, invoice_id: int, amount_minor: int, now: datetime) -> CreditApplication:
    """Use ``amount_minor`` of the note's carried credit to pay a later invoice."""
    left = unused_credit(note)
    if not 0 < amount_minor <= left:
        raise IllegalCreditNoteTransition(
            f"Credit note {note.number} has {left} left to use, not {amount_minor}."
        )
    target = CreditNoteStatus.SETTLED if amount_minor == left else CreditNoteStatus.OPEN
    _move(note, target, "used")
    application = CreditApplication(invoice_id=invoice_id, amount_minor=amount_minor, applied_at=now)
    note.applications.append(application)
    if target is CreditNoteStatus.SETTLED:
        note.settled_at = now
    return application


def mark_refunded(note: CreditNote, stripe_refund_id: str | None, now: datetime) -> None:
    """The refund went through."""
    _move(note, CreditNoteStatus.SETTLED, "refunded")
    note.stripe_refund_id = stripe_refund_id
    note.settled_at = now
