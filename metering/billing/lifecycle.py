"""The invoice document's lifecycle: which moves are allowed, and the only code that makes them.

::

    (new_draft) ──▶ draft ──hold──▶ held ──release──▶ draft
                      │
                      └──finalize──▶ finalized ──payment fails──▶ overdue
                                         │   └──bank asks (SCA)──▶ needs_authentication
                                         │                           │
                                         └──────────paid──────▶ paid ◀┘  (from overdue and
                                                                          needs_authentication too)

    finalized, overdue, needs_authentication ──void──▶ void (Stripe voided it: nothing is owed)
    finalized, overdue, needs_authentication ──write off──▶ uncollectible ──paid──▶ paid
                                                                          └──void──▶ void

"Held" is a draft the reseller keeps back from approval: it is stored as a draft with a
``hold_reason`` rather than as a status of its own, so the close (which rebuilds drafts) and the
``invoices`` table need not know about it. A draft whose total is zero or less is settled as it is
finalized (finalized, then paid, in one step): there is nothing to collect. A balance brought to zero
by payments and credit notes is a move to paid as well.

Every write of ``Invoice.status``, ``hold_reason``, ``finalized_at``, ``paid_at``,
``overdue_since``, ``voided_at`` and ``uncollectible_at`` happens here, the first one as the month
close creates a draft (:func:`new_draft`), every later one after :data:`TRANSITIONS` allowed it;
an illegal move raises :class:`IllegalTransition`. The moves to paid and overdue also set
``payment_error``, which is otherwise delivery bookkeeping (the Stripe push notes why it could not
send an invoice there).
Callers keep what surrounds a move (audit records, e-mails, Stripe, freezing the month) and flush.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from metering.billing.models import Invoice, InvoiceStatus
from metering.periods import BillingPeriod
from portal.errors import Conflict
from portal.webhooks_out.services import emit


class InvoiceState(enum.StrEnum):
    DRAFT = "draft"
    HELD = "held"  # a draft with a hold_reason
    FINALIZED = "finalized"
    PAID = "paid"
    OVERDUE = "overdue"
    NEEDS_AUTHENTICATION = "needs_authentication"  # the bank wants the client to confirm (3-D Secure)
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


# from -> the states it may move to. The self-moves are real operations, not accidents: a held draft
# is held again with another reason, a second failed payment records its error on an overdue invoice,
# and releasing a draft that is not held leaves it a draft.
TRANSITIONS: Mapping[InvoiceState, frozenset[InvoiceState]] = {
    InvoiceState.DRAFT: frozenset({InvoiceState.DRAFT, InvoiceState.HELD, InvoiceState.FINALIZED}),
    InvoiceState.HELD: frozenset({InvoiceState.HELD, InvoiceState.DRAFT}),
    InvoiceState.FINALIZED: frozenset(
        {
            InvoiceState.PAID,
            InvoiceState.OVERDUE,
            InvoiceState.NEEDS_AUTHENTICATION,
            InvoiceState.VOID,
            InvoiceState.UNCOLLECTIBLE,
        }
    ),
    InvoiceState.OVERDUE: frozenset(
        {
            InvoiceState.OVERDUE,
            InvoiceState.PAID,
            InvoiceState.NEEDS_AUTHENTICATION,
            InvoiceState.VOID,
            InvoiceState.UNCOLLECTIBLE,
        }
    ),
    # Stripe may ask again (a second attempt, another authentication), or the attempt fails after all.
    InvoiceState.NEEDS_AUTHENTICATION: frozenset(
        {
            InvoiceState.NEEDS_AUTHENTICATION,
            InvoiceState.PAID,
            InvoiceState.OVERDUE,
            InvoiceState.VOID,
            InvoiceState.UNCOLLECTIBLE,
        }
    ),
    # Written off in Stripe, which still accepts a late payment, or voids it.
    InvoiceState.UNCOLLECTIBLE: frozenset({InvoiceState.PAID, InvoiceState.VOID}),
    InvoiceState.PAID: frozenset(),
    InvoiceState.VOID: frozenset(),
}

# States in which money is still owed and the client is being asked for it: dunning counts them.
UNPAID_AND_CHASED = frozenset({InvoiceState.OVERDUE, InvoiceState.NEEDS_AUTHENTICATION})

# The moves only a draft (held or not) makes: refusing one says that only a draft can do it.
_DRAFT_MOVES = frozenset({InvoiceState.DRAFT, InvoiceState.HELD, InvoiceState.FINALIZED})
_DOING = {InvoiceState.DRAFT: "released", InvoiceState.HELD: "held", InvoiceState.FINALIZED: "finalized"}
# Held is a draft with a reason, not a status of its own.
_STATUS = {
    InvoiceState.DRAFT: InvoiceStatus.DRAFT,
    InvoiceState.HELD: InvoiceStatus.DRAFT,
    InvoiceState.FINALIZED: InvoiceStatus.FINALIZED,
    InvoiceState.PAID: InvoiceStatus.PAID,
    InvoiceState.OVERDUE: InvoiceStatus.OVERDUE,
    InvoiceState.NEEDS_AUTHENTICATION: InvoiceStatus.NEEDS_AUTHENTICATION,
    InvoiceState.VOID: InvoiceStatus.VOID,
    InvoiceState.UNCOLLECTIBLE: InvoiceStatus.UNCOLLECTIBLE,
}


class IllegalTransition(Conflict):
    """The invoice cannot make this move from the state it is in."""


def state_of(invoice: Invoice) -> InvoiceState:
    if invoice.status is InvoiceStatus.DRAFT:
        return InvoiceState.HELD if invoice.hold_reason is not None else InvoiceState.DRAFT
    return InvoiceState(invoice.status.value)


def is_held(invoice: Invoice) -> bool:
    return state_of(invoice) is InvoiceState.HELD


def allows(invoice: Invoice, target: InvoiceState) -> bool:
    return target in TRANSITIONS[state_of(invoice)]


def require(invoice: Invoice, target: InvoiceState, doing: str | None = None) -> InvoiceState:
    """The invoice's state, after checking it may move to ``target``; ``doing`` words the refusal.

    For callers that check up front, before other checks whose messages would otherwise come first.
    """
    state = state_of(invoice)
    if target not in TRANSITIONS[state]:
        raise _refusal(invoice, state, target, doing or _DOING.get(target, f"marked {target.value}"))
    return state


def _refusal(invoice: Invoice, state: InvoiceState, target: InvoiceState, doing: str) -> IllegalTransition:
    number = invoice.number
    if state is InvoiceState.HELD and target is InvoiceState.FINALIZED:
        return IllegalTransition(
            f"Invoice {number} is held ({invoice.hold_reason}); release the hold before approving it."
        )
    if target in _DRAFT_MOVES:
        return IllegalTransition(f"Invoice {number} is already {state.value}; only a draft can be {doing}.")
    described = {
        InvoiceState.DRAFT: "a draft",
        InvoiceState.HELD: "a held draft",
        InvoiceState.NEEDS_AUTHENTICATION: "waiting for the client to authenticate the payment",
    }.get(state, state.value)
    return IllegalTransition(f"Invoice {number} is {described}; it cannot be {doing}.")


def _move(invoice: Invoice, target: InvoiceState) -> InvoiceState:
    """Check the table, then set the status; the state the invoice was in is returned."""
    state = require(invoice, target)
    if invoice.status is not _STATUS[target]:
        invoice.status = _STATUS[target]
    return state


def _announce(invoice: Invoice, event_type: str, now: datetime) -> None:
    """The outgoing webhook of a move, recorded in the move's transaction (docs/webhooks.md)."""

    def stamp(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    emit(
        event_type,
        invoice,
        lambda: {
            "invoice_id": invoice.id,
            "number": invoice.number,
            "client_ref": invoice.client.ref,
            "period": invoice.period,
            "status": invoice.status.value,
            "total_minor": invoice.total_minor,
            "currency": invoice.currency,
            "finalized_at": stamp(invoice.finalized_at),
            "paid_at": stamp(invoice.paid_at),
            "overdue_since": stamp(invoice.overdue_since),
            "payment_error": invoice.payment_error,
        },
        now=now,
    )


# --- the moves -------------------------------------------------------------------------------------


def new_draft(client_id: int, period: BillingPeriod) -> Invoice:
    """A client's first draft for the month, for the close to fill in and add to the session.

    Every invoice starts here: there is no move into draft from nothing in :data:`TRANSITIONS`.
    """
    return Invoice(**new_draft_values(client_id, period))


def new_draft_values(client_id: int, period: BillingPeriod) -> dict[str, Any]:
    """The columns :func:`new_draft` starts from, for the close's multi-row insert of a batch's drafts."""
    return {"client_id": client_id, "period": str(period), "status": _STATUS[InvoiceState.DRAFT]}


def hold(invoice: Invoice, reason: str) -> bool:
    """Keep a draft back from approval. False when it is already held for exactly this reason."""
    state = _move(invoice, InvoiceState.HELD)
    if state is InvoiceState.HELD and invoice.hold_reason == reason:
        return False
    invoice.hold_reason = reason
    return True


def release(invoice: Invoice) -> str | None:
    """Lift a hold: the reason that was lifted, or None when the draft was not held (nothing changes)."""
    _move(invoice, InvoiceState.DRAFT)
    reason = invoice.hold_reason
    if reason is not None:
        invoice.hold_reason = None
    return reason


def finalize(invoice: Invoice, now: datetime) -> InvoiceState:
    """Freeze a draft: its lines and total never change again. Nothing to collect: paid as it is issued.

    A total below zero is settled too: the client gets a credit note for it (the finalizing caller
    issues it), never a negative invoice.
    """
    _move(invoice, InvoiceState.FINALIZED)
    invoice.finalized_at = now
    _announce(invoice, "invoice.finalized", now)
    if invoice.total_minor <= 0:
        # Nothing to collect (e.g. an adjustment that cancels out, or gives more back than is billed).
        _move(invoice, InvoiceState.PAID)
        invoice.paid_at = now
        _announce(invoice, "invoice.paid", now)
    return state_of(invoice)


def mark_paid(invoice: Invoice, now: datetime) -> None:
    """The money arrived (the push's answer or Stripe's webhook)."""
    _move(invoice, InvoiceState.PAID)
    invoice.paid_at = now
    invoice.payment_error = None
    _announce(invoice, "invoice.paid", now)


def mark_overdue(invoice: Invoice, reason: str, now: datetime) -> bool:
    """A payment attempt failed. False when it was overdue already: only the latest error is kept."""
    state = _move(invoice, InvoiceState.OVERDUE)
    invoice.payment_error = reason
    if state is InvoiceState.OVERDUE:
        return False
    invoice.overdue_since = now
    _announce(invoice, "invoice.overdue", now)
    return True


def mark_needs_authentication(invoice: Invoice, now: datetime) -> bool:
    """The bank asked the client to confirm the payment (SCA). False when it was asking already.

    The invoice is unpaid from now on: the dunning clock starts here unless an earlier failure
    started it.
    """
    state = _move(invoice, InvoiceState.NEEDS_AUTHENTICATION)
    if invoice.overdue_since is None:
        invoice.overdue_since = now
    return state is not InvoiceState.NEEDS_AUTHENTICATION


def void(invoice: Invoice, now: datetime) -> None:
    """Stripe voided the invoice: nothing is owed on it, nothing is collected or chased."""
    _move(invoice, InvoiceState.VOID)
    invoice.voided_at = now


def mark_uncollectible(invoice: Invoice, now: datetime) -> None:
    """Written off as bad debt in Stripe: no longer chased, though a late payment is still accepted."""
    _move(invoice, InvoiceState.UNCOLLECTIBLE)
    invoice.uncollectible_at = now
