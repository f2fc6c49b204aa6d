"""Reviewing a month's drafts: holds survive a re-close, approve-all skips held drafts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from metering.billing.models import BillingPeriodState, Invoice, InvoiceStatus
from metering.billing.review import approve_period, hold_invoice
from portal.db import db, utcnow
from portal.errors import InvalidInput
from tests.portal.reseller.conftest import OCTOBER
from tests.portal.reseller.world import SETUP, UTC_ZONE, add_people, at, close, give


def october_drafts() -> list[Invoice]:
    return list(
        db.session.scalars(select(Invoice).where(Invoice.period == str(OCTOBER)).order_by(Invoice.id))
    )


def test_a_reason_is_required_and_bounded(business):
    invoice = october_drafts()[0]

    with pytest.raises(InvalidInput) as empty:
        hold_invoice(SETUP, invoice, " \n ")
    with pytest.raises(InvalidInput) as long:
        hold_invoice(SETUP, invoice, "x" * 501)

    assert "reason" in empty.value.fields and "reason" in long.value.fields
    assert invoice.hold_reason is None


def test_a_hold_survives_the_draft_being_rebuilt_by_another_close(business):
    acme = next(invoice for invoice in october_drafts() if invoice.client_id == business.acme.id)
    hold_invoice(SETUP, acme, "Waiting for the client's new starters list")
    db.session.commit()
    (newcomer,) = add_people(business.acme, "Nora New")
    give(business.acme, newcomer, "desktop", at("2026-10-20T09:00:00"))
    db.session.commit()

    close(OCTOBER)

    db.session.expire_all()
    assert acme.total_minor == 12500 + 3900  # rebuilt with Nora's desktop
    assert acme.hold_reason == "Waiting for the client's new starters list"


def test_approving_all_when_everything_is_held_changes_nothing(business):
    for invoice in october_drafts():
        hold_invoice(SETUP, invoice, "Checking")

    result = approve_period(SETUP, OCTOBER, UTC_ZONE, utcnow())

    assert result.approved == [] and result.held == 3 and not result.month_frozen
    assert {invoice.status for invoice in october_drafts()} == {InvoiceStatus.DRAFT}
    assert db.session.get(BillingPeriodState, str(OCTOBER)).finalized_at is None
