"""Whole months played end to end: usage arrives, the month closes, is finalized, and late usage follows.

Counts, invoices and the SPLA report are checked to the cent. October 2026 in New York runs from
2026-10-01T04:00Z to 2026-11-01T04:00Z (EDT, clocks go back later that night).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from metering.billing.finalize import finalize_invoice
from metering.billing.models import BillingAccount, Invoice, InvoiceStatus
from metering.ledger.services import close_seat_interval, open_seat_interval
from metering.settings import billing_timezone
from portal.accounts.end_user_services import add_end_user
from portal.catalog.services import get_product
from portal.db import db, utcnow
from portal.errors import Conflict
from provisioning import place_order
from tests.metering.months import TESTS, event, lines_of

NEW_YORK = "America/New_York"


@pytest.fixture
def new_york(app):
    app.config["BILLING_TIMEZONE"] = NEW_YORK


@pytest.fixture
def clients(make_client):
    return make_client("acme"), make_client("bright")


def _reassigned_seat(acme) -> None:
    """A desktop seat held by dave from Oct 1, handed to erin on Oct 15 (provisioning's ledger calls)."""
    dave = add_end_user(TESTS, acme, "Dave", "dave@acme.example")
    erin = add_end_user(TESTS, acme, "Erin", "erin@acme.example")
    seat = place_order(TESTS, acme, get_product("desktop"), 1, [dave]).seats[0]
    open_seat_interval(seat, datetime(2026, 10, 1, 12, tzinfo=UTC))
    close_seat_interval(seat, datetime(2026, 10, 15, 12, tzinfo=UTC))
    seat.end_user = erin
    db.session.flush()
    open_seat_interval(seat, datetime(2026, 10, 15, 12, tzinfo=UTC))
    db.session.commit()


def _october(month) -> None:
    month.events(
        # Sep 30 23:30 in New York: September, although it is already October in UTC.
        event("a1", "acme", "alice@acme.example", "desktop", "start", "2026-09-15T12:00:00Z"),
        event("a2", "acme", "alice@acme.example", "desktop", "stop", "2026-10-01T03:30:00Z"),
        # Oct 31 23:00 in New York: October, although it is already November in UTC.
        event("b1", "acme", "bob@acme.example", "desktop", "start", "2026-10-31T23:00:00-04:00"),
        # Nov 1 00:00 in New York: November.
        event("c1", "acme", "carol@acme.example", "exchange", "start", "2026-11-01T04:00:00Z"),
        # frank holds the RDS SAL through two products: one user for WINRDS-SAL.
        event("f1", "acme", "frank@acme.example", "desktop", "start", "2026-10-02T09:00:00Z"),
        event("f2", "acme", "frank@acme.example", "desktop-pro", "start", "2026-10-05T09:00:00Z"),
        event("f3", "acme", "frank@acme.example", "desktop", "stop", "2026-10-20T09:00:00Z"),
        event("f4", "acme", "frank@acme.example", "desktop-pro", "stop", "2026-10-20T09:00:00Z"),
        # Minutes: 120 + 30 in October (the second on Oct 31 local), 50 in November local time.
        event("m1", "acme", None, "voip-minutes", "usage", "2026-10-10T15:00:00Z", quantity=120),
        event("m2", "acme", None, "voip-minutes", "usage", "2026-10-31T23:30:00-04:00", quantity=30),
        event("m3", "acme", None, "voip-minutes", "usage", "2026-11-01T00:10:00-04:00", quantity=50),
    )


def test_a_whole_october_in_new_york(month, new_york, clients, travel):
    acme, _bright = clients
    _reassigned_seat(acme)
    _october(month)
    travel("2026-11-02T12:00:00Z")

    summary = month.close("2026-10")

    assert summary.complete and summary.outcomes == {"created": 1}
    (invoice,) = month.invoices("2026-10")  # bright had no usage: no invoice
    assert invoice["client"] == "acme" and invoice["status"] == "draft" and invoice["currency"] == "USD"
    # desktop: bob, dave, erin (reassigned mid-month: both count), frank = 4 x $39.00
    assert lines_of(invoice) == [
        ("desktop", "2026-10", 4, 3900, 15600),
        ("desktop-pro", "2026-10", 1, 4900, 4900),
        ("voip-minutes", "2026-10", 150, 2, 300),
    ]
    assert invoice["total_minor"] == 20800
    assert month.spla("2026-10") == [
        ("acme", "OFFPRO-SAL", 1),
        ("acme", "OFFSTD-SAL", 4),
        ("acme", "WINRDS-SAL", 4),
    ]
    # September saw only alice's desktop (her stop is Sep 30 local time).
    assert month.spla("2026-09") == [("acme", "OFFSTD-SAL", 1), ("acme", "WINRDS-SAL", 1)]


def test_rerunning_close_rebuilds_the_draft_and_never_makes_a_second_invoice(month, clients, travel):
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    first = month.invoice("acme", "2026-10")

    again = month.close("2026-10")
    assert again.outcomes == {"unchanged": 1}

    # A late event before finalize is picked up by the next run, in the same invoice.
    month.events(event("e2", "acme", "bob@acme.example", "exchange", "start", "2026-10-20T09:00:00Z"))
    rebuilt = month.close("2026-10")

    assert rebuilt.outcomes == {"rebuilt": 1}
    invoice = month.invoice("acme", "2026-10")
    assert invoice["id"] == first["id"]
    assert lines_of(invoice) == [("desktop", "2026-10", 1, 3900, 3900), ("exchange", "2026-10", 1, 800, 800)]
    assert db.session.scalar(select(func.count(Invoice.id))) == 1


def test_a_draft_whose_usage_disappears_is_removed(month, clients, travel):
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-09-20T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    assert month.invoice("acme", "2026-10")["total_minor"] == 3900

    # Before finalize, the RMM reports alice's desktop was removed in September.
    month.events(event("e2", "acme", "alice@acme.example", "desktop", "stop", "2026-09-28T09:00:00Z"))

    assert month.close("2026-10").outcomes == {"removed": 1}
    assert month.invoices("2026-10") == []


def test_close_refuses_a_month_that_is_not_over(month, clients, travel, new_york):
    travel("2026-11-01T03:59:00Z")  # still Oct 31 in New York

    with pytest.raises(Conflict, match="not over yet"):
        month.close("2026-10")


def test_finalize_needs_a_close_and_freezes_the_invoices(month, clients, travel):
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    with pytest.raises(Conflict, match="not been closed"):
        month.finalize("2026-10")
    db.session.rollback()

    month.close("2026-10")
    assert month.finalize("2026-10") == 1
    assert month.finalize("2026-10") == 0  # again: nothing left to finalize

    invoice = month.invoice("acme", "2026-10")
    assert invoice["status"] == "finalized" and invoice["total_minor"] == 3900
    with pytest.raises(Conflict, match="finalized"):
        month.close("2026-10")
    db.session.rollback()


def test_late_usage_after_finalize_becomes_adjustment_lines_on_the_next_invoice(
    month, new_york, clients, travel
):
    _october(month)
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    october = month.invoice("acme", "2026-10")

    # Late for October: hank's desktop from Oct 25, 10 more minutes, and bright's first user ever.
    travel("2026-11-10T12:00:00Z")
    month.events(
        event("h1", "acme", "hank@acme.example", "desktop", "start", "2026-10-25T09:00:00-04:00"),
        event("m4", "acme", None, "voip-minutes", "usage", "2026-10-05T10:00:00Z", quantity=10),
        event("i1", "bright", "ivy@bright.example", "exchange", "start", "2026-10-30T09:00:00Z"),
        event("i2", "bright", "ivy@bright.example", "exchange", "stop", "2026-10-31T09:00:00Z"),
    )
    assert month.invoice("acme", "2026-10") == october  # finalized invoices never change

    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")

    # November: bob and hank hold desktops, carol her mailbox, 50 minutes; then October's corrections.
    assert lines_of(month.invoice("acme", "2026-11")) == [
        ("desktop", "2026-11", 2, 3900, 7800),
        ("exchange", "2026-11", 1, 800, 800),
        ("voip-minutes", "2026-11", 50, 2, 100),
        ("desktop", "2026-10", 1, 3900, 3900),
        ("voip-minutes", "2026-10", 10, 2, 20),
    ]
    assert month.invoice("acme", "2026-11")["total_minor"] == 12620
    # bright had no October invoice at all; October was finalized for everyone, so its late usage
    # is an adjustment on November's invoice too.
    assert lines_of(month.invoice("bright", "2026-11")) == [("exchange", "2026-10", 1, 800, 800)]

    # Re-running November's close does not bill October's corrections twice.
    assert month.close("2026-11").outcomes == {"unchanged": 2}
    month.finalize("2026-11")

    travel("2027-01-02T12:00:00Z")
    month.close("2026-12")
    december = month.invoice("acme", "2026-12")
    assert [line["period"] for line in december["lines"]] == ["2026-12", "2026-12"]  # no more October lines
    assert "bright" not in [invoice["client"] for invoice in month.invoices("2026-12")]


def test_a_late_stop_gives_money_back_for_a_finalized_month(month, clients, travel):
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-09-20T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    assert month.invoice("acme", "2026-10")["total_minor"] == 3900

    # The RMM reports, late, that alice's desktop was removed on Sep 28: October owes nothing for her.
    month.events(event("e2", "acme", "alice@acme.example", "desktop", "stop", "2026-09-28T09:00:00Z"))
    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")

    november = month.invoice("acme", "2026-11")
    assert lines_of(november) == [("desktop", "2026-10", -1, 3900, -3900)]
    assert november["total_minor"] == -3900


def test_finalized_invoices_refuse_any_change(month, clients, travel):
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    invoice = db.session.scalars(select(Invoice)).one()

    invoice.lines[0].quantity = 2
    invoice.lines[0].amount_minor = 7800
    with pytest.raises(RuntimeError, match="finalized"):
        db.session.flush()
    db.session.rollback()

    invoice = db.session.scalars(select(Invoice)).one()
    invoice.total_minor = 1
    with pytest.raises(RuntimeError, match="finalized"):
        db.session.flush()
    db.session.rollback()

    invoice = db.session.scalars(select(Invoice)).one()
    invoice.status = InvoiceStatus.PAID  # payment state may change
    db.session.flush()


def test_an_empty_month_closes_to_nothing_and_reports_nothing(month, clients, travel):
    travel("2026-11-02T12:00:00Z")

    summary = month.close("2026-10")

    assert summary.clients == 0 and summary.complete
    assert month.invoices("2026-10") == []
    assert month.spla("2026-10") == []
    assert db.session.scalar(select(func.count(BillingAccount.id))) == 0


def test_one_reviewed_draft_can_be_finalized_alone(month, clients, travel):
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "bright", "dana@bright.example", "exchange", "start", "2026-10-03T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    acme_invoice = db.session.scalars(
        select(Invoice).join(Invoice.client).where(Invoice.client.has(ref="acme"))
    ).one()

    finalize_invoice(TESTS, acme_invoice, billing_timezone(), utcnow())
    db.session.commit()
    with pytest.raises(Conflict, match="already finalized"):
        finalize_invoice(TESTS, acme_invoice, billing_timezone(), utcnow())

    # A re-run of the close rebuilds bright's draft and leaves acme's finalized invoice alone.
    assert month.close("2026-10").outcomes == {"unchanged": 1}
    assert {invoice["client"]: invoice["status"] for invoice in month.invoices("2026-10")} == {
        "acme": "finalized",
        "bright": "draft",
    }


def test_finalizing_the_month_leaves_held_drafts_for_review(month, clients, travel):
    _acme, bright = clients
    month.events(
        event("h1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("h2", "bright", "beth@bright.example", "desktop", "start", "2026-10-03T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.invoice_row(bright.id, "2026-10").hold_reason = "Client disputes a seat"
    db.session.commit()

    assert month.finalize("2026-10") == 1

    assert month.invoice("acme", "2026-10")["status"] == "finalized"
    assert month.invoice("bright", "2026-10")["status"] == "draft"
    # The month is not frozen while a draft waits: a re-run close may still rebuild it.
    assert month.close("2026-10").complete


def test_without_a_stripe_key_approved_invoices_wait_instead_of_failing(app, month, clients, travel):
    from metering.billing.tasks import push_invoice_now, push_sweep

    app.config["STRIPE_API_KEY"] = None
    month.events(event("s1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    invoice = month.invoice_row(clients[0].id, "2026-10")

    assert push_invoice_now(invoice.id) == "waiting: Stripe is not configured"
    assert push_sweep() == {"queued": 0}
    db.session.expire_all()
    assert month.invoice_row(clients[0].id, "2026-10").payment_error is None
