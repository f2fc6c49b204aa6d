"""The demo data: a year of history made by the real services, and safe to load again."""

from __future__ import annotations

from collections import Counter

from flask import Flask
from sqlalchemy import func, select

from metering import (
    BillingPeriod,
    Invoice,
    InvoiceStatus,
    SplaReport,
    SplaSubmission,
    aws_cost_report,
    billing_timezone,
    filing_status,
    spla_report,
)
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


def test_the_spla_reports_list_only_the_colo_desktops_and_aws_pays_for_the_rest(app: Flask) -> None:
    load_demo()
    tz = billing_timezone()

    def reported(report: SplaReport) -> set[tuple[str | None, str, int]]:
        return {(line.client, line.sku, line.quantity) for line in report.lines if line.quantity}

    # Six months ago Dan's desktop (Acme) and Hal's Pro desktop (Bright Smile) ran at the colo.
    six_ago = _months_back(6)
    assert reported(spla_report(six_ago, tz)) == {
        ("acme", "WINRDS-SAL", 1),
        ("acme", "OFFSTD-SAL", 1),
        ("brightsmile", "WINRDS-SAL", 1),
        ("brightsmile", "OFFPRO-SAL", 1),
    }
    # Alice's and Bob's WorkSpaces desktops, Erin's, and every WorkMail mailbox are AWS costs.
    aws = reported(aws_cost_report(six_ago, tz))
    assert {("acme", "AWS-WSP-STD", 2), ("brightsmile", "AWS-WSP-PLUS", 1)} <= aws
    assert {sku for _client, sku, _quantity in aws} == {"AWS-WSP-STD", "AWS-WSP-PLUS", "AWS-WORKMAIL"}
    # Since the colo desktops ended, nothing is reported to Microsoft: every seat runs on AWS.
    assert reported(spla_report(_months_back(1), tz)) == set()
    assert reported(aws_cost_report(_months_back(1), tz))
