"""The invoice lifecycle: every (from, to) pair of states, against the table written out here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from itertools import product

import pytest

from metering.billing import lifecycle
from metering.billing.lifecycle import IllegalTransition, InvoiceState
from metering.billing.models import Invoice, InvoiceStatus
from metering.periods import BillingPeriod
from portal.errors import Conflict

DRAFT, HELD, FINALIZED, PAID, OVERDUE = (
    InvoiceState.DRAFT,
    InvoiceState.HELD,
    InvoiceState.FINALIZED,
    InvoiceState.PAID,
    InvoiceState.OVERDUE,
)
NEEDS_AUTHENTICATION, VOID, UNCOLLECTIBLE = (
    InvoiceState.NEEDS_AUTHENTICATION,
    InvoiceState.VOID,
    InvoiceState.UNCOLLECTIBLE,
)
EARLIER = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)

# Every legal move; any other pair of states is refused. Written out rather than read from the module,
# so that a change to the table is a change to this test too.
LEGAL = {
    (DRAFT, DRAFT),  # releasing a draft that is not held: nothing to lift
    (DRAFT, HELD),
    (DRAFT, FINALIZED),
    (HELD, HELD),  # held again, for another reason
    (HELD, DRAFT),  # released
    (FINALIZED, PAID),
    (FINALIZED, OVERDUE),
    (OVERDUE, OVERDUE),  # another failed attempt
    (OVERDUE, PAID),
    # The bank asks the client to confirm the payment (3-D Secure), at the first attempt or a retry.
    (FINALIZED, NEEDS_AUTHENTICATION),
    (OVERDUE, NEEDS_AUTHENTICATION),
    (NEEDS_AUTHENTICATION, NEEDS_AUTHENTICATION),  # asked again
    (NEEDS_AUTHENTICATION, PAID),
    (NEEDS_AUTHENTICATION, OVERDUE),  # a retry with another card failed
    # Voided or written off in Stripe, while unpaid.
    (FINALIZED, VOID),
    (OVERDUE, VOID),
    (NEEDS_AUTHENTICATION, VOID),
    (FINALIZED, UNCOLLECTIBLE),
    (OVERDUE, UNCOLLECTIBLE),
    (NEEDS_AUTHENTICATION, UNCOLLECTIBLE),
    (UNCOLLECTIBLE, PAID),  # a late payment
    (UNCOLLECTIBLE, VOID),
}


def invoice_in(state: InvoiceState, total_minor: int = 12500) -> Invoice:
    invoice = Invoice(id=7, client_id=1, period="2026-10", currency="USD", total_minor=total_minor)
    invoice.status = InvoiceStatus.DRAFT
    invoice.hold_reason = None
    invoice.finalized_at = invoice.paid_at = invoice.overdue_since = invoice.payment_error = None
    invoice.voided_at = invoice.uncollectible_at = None
    if state is HELD:
        invoice.hold_reason = "Checking the new starters"
    if state in (FINALIZED, PAID, OVERDUE, NEEDS_AUTHENTICATION, VOID, UNCOLLECTIBLE):
        invoice.status = InvoiceStatus.FINALIZED
        invoice.finalized_at = EARLIER
    if state is PAID:
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = EARLIER
    if state is OVERDUE:
        invoice.status = InvoiceStatus.OVERDUE
        invoice.overdue_since = EARLIER
        invoice.payment_error = "Your card was declined."
    if state is NEEDS_AUTHENTICATION:
        invoice.status = InvoiceStatus.NEEDS_AUTHENTICATION
        invoice.overdue_since = EARLIER
    if state is VOID:
        invoice.status = InvoiceStatus.VOID
        invoice.voided_at = EARLIER
    if state is UNCOLLECTIBLE:
        invoice.status = InvoiceStatus.UNCOLLECTIBLE
        invoice.uncollectible_at = EARLIER
    assert lifecycle.state_of(invoice) is state
    return invoice


# The one operation that moves an invoice to each state.
MOVE_TO: dict[InvoiceState, Callable[[Invoice], object]] = {
    DRAFT: lifecycle.release,
    HELD: lambda invoice: lifecycle.hold(invoice, "Waiting for the client"),
    FINALIZED: lambda invoice: lifecycle.finalize(invoice, NOW),
    PAID: lambda invoice: lifecycle.mark_paid(invoice, NOW),
    OVERDUE: lambda invoice: lifecycle.mark_overdue(invoice, "Insufficient funds.", NOW),
    NEEDS_AUTHENTICATION: lambda invoice: lifecycle.mark_needs_authentication(invoice, NOW),
    VOID: lambda invoice: lifecycle.void(invoice, NOW),
    UNCOLLECTIBLE: lambda invoice: lifecycle.mark_uncollectible(invoice, NOW),
}

FIELDS = (
    "status",
    "hold_reason",
    "finalized_at",
    "paid_at",
    "overdue_since",
    "payment_error",
    "voided_at",
    "uncollectible_at",
)


def test_the_module_has_the_table_written_here():
    table = lifecycle.TRANSITIONS
    assert {(source, target) for source, targets in table.items() for target in targets} == LEGAL
    assert set(lifecycle.TRANSITIONS) == set(InvoiceState)


@pytest.mark.parametrize(("source", "target"), list(product(InvoiceState, InvoiceState)))
def test_every_pair_of_states(source, target):
    invoice = invoice_in(source)
    before = {name: getattr(invoice, name) for name in FIELDS}

    if (source, target) in LEGAL:
        assert lifecycle.allows(invoice, target)
        MOVE_TO[target](invoice)
        assert lifecycle.state_of(invoice) is target
    else:
        assert not lifecycle.allows(invoice, target)
        with pytest.raises(IllegalTransition) as refused:
            MOVE_TO[target](invoice)
        assert isinstance(refused.value, Conflict)
        assert refused.value.message.startswith("Invoice 2026-10-00007 is ")
        assert {name: getattr(invoice, name) for name in FIELDS} == before


def test_finalizing_stamps_the_time_and_a_zero_total_is_settled_at_once():
    invoice = invoice_in(DRAFT)
    assert lifecycle.finalize(invoice, NOW) is FINALIZED
    assert invoice.finalized_at == NOW and invoice.paid_at is None

    nothing_to_collect = invoice_in(DRAFT, total_minor=0)
    assert lifecycle.finalize(nothing_to_collect, NOW) is PAID
    assert nothing_to_collect.finalized_at == NOW and nothing_to_collect.paid_at == NOW


def test_every_invoice_starts_as_an_unheld_draft_of_its_client_and_month():
    invoice = lifecycle.new_draft(7, BillingPeriod(2026, 10))
    assert (invoice.client_id, invoice.period) == (7, "2026-10")
    assert invoice.status is InvoiceStatus.DRAFT and lifecycle.state_of(invoice) is DRAFT


def test_a_hold_keeps_its_reason_and_release_gives_it_back():
    invoice = invoice_in(DRAFT)
    assert lifecycle.hold(invoice, "Checking") is True
    assert lifecycle.hold(invoice, "Checking") is False  # the same hold again changes nothing
    assert lifecycle.hold(invoice, "Checking again") is True
    assert invoice.status is InvoiceStatus.DRAFT and invoice.hold_reason == "Checking again"

    assert lifecycle.release(invoice) == "Checking again"
    assert lifecycle.release(invoice) is None
    assert lifecycle.state_of(invoice) is DRAFT


def test_overdue_keeps_the_first_date_and_the_latest_error_until_paid():
    invoice = invoice_in(FINALIZED)
    assert lifecycle.mark_overdue(invoice, "Card declined.", NOW) is True
    assert invoice.overdue_since == NOW

    later = datetime(2026, 11, 9, tzinfo=UTC)
    assert lifecycle.mark_overdue(invoice, "Insufficient funds.", later) is False
    assert invoice.overdue_since == NOW and invoice.payment_error == "Insufficient funds."

    lifecycle.mark_paid(invoice, later)
    assert invoice.status is InvoiceStatus.PAID and invoice.paid_at == later and invoice.payment_error is None


def test_refusals_say_why_in_plain_words():
    with pytest.raises(IllegalTransition, match=r"is already finalized; only a draft can be held\."):
        lifecycle.hold(invoice_in(FINALIZED), "Too late")
    with pytest.raises(IllegalTransition, match=r"is already paid; only a draft can be approved\."):
        lifecycle.require(invoice_in(PAID), FINALIZED, "approved")
    with pytest.raises(IllegalTransition, match=r"is held \(Checking the new starters\); release the hold"):
        lifecycle.finalize(invoice_in(HELD), NOW)
    with pytest.raises(IllegalTransition, match=r"is a draft; it cannot be marked paid\."):
        lifecycle.mark_paid(invoice_in(DRAFT), NOW)


def test_asking_for_authentication_starts_the_dunning_clock_once():
    invoice = invoice_in(FINALIZED)
    assert lifecycle.mark_needs_authentication(invoice, NOW) is True
    assert invoice.overdue_since == NOW
    assert lifecycle.mark_needs_authentication(invoice, NOW) is False  # asked again: nothing new

    failed_first = invoice_in(OVERDUE)
    lifecycle.mark_needs_authentication(failed_first, NOW)
    assert failed_first.overdue_since == EARLIER  # the clock runs from the first failure


def test_void_and_write_off_stamp_their_time():
    voided = invoice_in(OVERDUE)
    lifecycle.void(voided, NOW)
    assert voided.status is InvoiceStatus.VOID and voided.voided_at == NOW

    written_off = invoice_in(FINALIZED)
    lifecycle.mark_uncollectible(written_off, NOW)
    assert written_off.status is InvoiceStatus.UNCOLLECTIBLE and written_off.uncollectible_at == NOW
