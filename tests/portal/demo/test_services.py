"""The demo data: a year of history made by the real services, and safe to load again."""

from __future__ import annotations

from collections import Counter

from flask import Flask
from sqlalchemy import func, select

from metering import BillingPeriod, Invoice, InvoiceStatus, SplaSubmission, billing_timezone, filing_status
from portal.db import db, utcnow
from portal.demo.services import DECLINED, demo_seat_count, load_demo
from portal.orders.models import DesiredState, Order, Seat


def _months_back(months: int) -> BillingPeriod:
    period = BillingPeriod.containing(utcnow(), billing_timezone())
    for _ in range(months):
        period = period.previous()
    return period


def test_a_year_of_closed_months_paid_overdue_and_in_review(app: Flask) -> None:
    load_demo()
    invoices = list(db.session.scalars(select(Invoice)))
    by_month = Counter(invoice.period for invoice in invoices)
    assert sorted(by_month) == sorted(str(_months_back(n)) for n in range(1, 13))

    last = str(_months_back(1))
    assert {i.status for i in invoices if i.period == last} == {InvoiceStatus.DRAFT}
    overdue = [i for i in invoices if i.status is InvoiceStatus.OVERDUE]
    assert [(i.client.ref, i.period, i.payment_error) for i in overdue] == [
        ("brightsmile", str(_months_back(2)), DECLINED)
    ]
    older = [i for i in invoices if i.period != last and i.status is not InvoiceStatus.OVERDUE]
    assert older and {i.status for i in older} == {InvoiceStatus.PAID}
    # The bills say something: every client paid for seats in the months it had them.
    assert all(i.total_minor > 0 for i in invoices if i.client.ref == "acme")


def test_every_past_spla_report_is_submitted_so_none_is_overdue(app: Flask) -> None:
    load_demo()
    submitted = set(db.session.scalars(select(SplaSubmission.period)))
    assert submitted == {str(_months_back(n)) for n in range(1, 13)}
    status = filing_status(_months_back(1), billing_timezone(), utcnow())
    assert status.submission is not None
    assert "overdue" not in status.state.value


def test_seats_came_and_went_over_the_year(app: Flask) -> None:
    load_demo()
    seats = list(db.session.scalars(select(Seat)))
    wanted = [seat for seat in seats if seat.desired_state is DesiredState.ACTIVE]
    assert len(wanted) == demo_seat_count() == 14
    gone = [seat for seat in seats if seat.desired_state is DesiredState.TERMINATED]
    assert {seat.end_user.email for seat in gone if seat.end_user is not None} == {
        "dan@acme.example",
        "eve@acme.example",
        "hal@brightsmile.example",
        "jon@ledgerline.example",
    }
    starts = {order.created_at.date() for order in db.session.scalars(select(Order))}
    assert len(starts) > 6  # ordered over the months, not all today


def test_loading_again_changes_nothing(app: Flask) -> None:
    load_demo()
    counts = [db.session.scalar(select(func.count()).select_from(model)) for model in (Seat, Invoice, Order)]
    load_demo()
    assert [
        db.session.scalar(select(func.count()).select_from(model)) for model in (Seat, Invoice, Order)
    ] == counts
