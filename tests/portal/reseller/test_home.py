"""The reseller's home: run rate, seats, revenue against licence cost, what needs doing."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET

from sqlalchemy import select

from metering.billing.dunning import mark_payment_failed
from metering.billing.models import Invoice
from metering.spla.services import spla_report
from portal.db import db, utcnow
from portal.orders.models import Seat, SeatState
from tests.metering.test_figures_in_sql import random_intervals
from tests.portal.reseller.conftest import OCTOBER, SEPTEMBER
from tests.portal.reseller.world import SETUP, UTC_ZONE

SVG = "{http://www.w3.org/2000/svg}"


def section(page: str, element_id: str, until: str = "</section>") -> str:
    """The text from the element with this id up to ``until``, tags removed."""
    start = page.index(f'id="{element_id}"')
    end = page.find(until, start)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[start:end]))


def row(page: str, element_id: str) -> str:
    return section(page, element_id, "</tr>")


def test_monthly_recurring_revenue_counts_the_licences_held_now(client, business, admin):
    page = client.get("/reseller/").get_data(as_text=True)

    # Held on November 3: desktops for Alice, Carol, the RMM-reported ghost and Bright's four
    # (7 x $39), mailboxes for Dave and Ledgerline's two (3 x $8). Bob's desktop ended in September.
    assert "$297.00" in section(page, "mrr", "</div>")
    run_rate = section(page, "run-rate")
    assert "Hosted Desktop 7 $39.00 $273.00" in run_rate
    assert "Hosted Exchange Mailbox 3 $8.00 $24.00" in run_rate


def test_revenue_cost_and_margin_per_month_match_the_invoices_and_the_spla_report(client, business, admin):
    page = client.get("/reseller/").get_data(as_text=True)

    october = row(page, f"month-{OCTOBER}")
    # October's drafts: Acme $125 (3 desktops, 1 mailbox), Bright $156, Ledgerline $16.
    assert "October 2026 $297.00" in october
    # The SPLA report for October, at the price book's SPLA costs: RDS and Office SALs for the 7
    # desktop users ($5.20 + $13.10 each) and Exchange SALs for the 3 mailboxes ($4.20 each).
    report = spla_report(OCTOBER, UTC_ZONE)
    cost = sum(line.quantity * line.unit_cost_minor for line in report.lines)
    assert cost == 7 * (520 + 1310) + 3 * 420
    assert f"${cost // 100}.{cost % 100:02d}" in october
    margin = 29700 - cost
    assert f"${margin // 100}.{margin % 100:02d}" in october
    assert october.endswith(" 10 ")  # seats billed: 7 desktops + 3 mailboxes

    september = row(page, f"month-{SEPTEMBER}")
    # Finalized in September: Acme (Alice and Bob's desktops, Dave's mailbox), Ledgerline's mailboxes.
    assert "September 2026 $102.00" in september


def test_charts_are_drawn_from_the_data_with_every_value_printed(client, business, admin):
    page = client.get("/reseller/").get_data(as_text=True)

    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) == 3
    texts = [[t.text for t in ET.fromstring(svg).iter(f"{SVG}text")] for svg in svgs]
    revenue, margin, seats = texts
    assert {"Revenue", "Licence cost", "Nov", "2025", "Jan", "2026", "Oct"} <= set(revenue)
    assert "$297" in revenue and "$102" in revenue
    assert "10" in seats  # October's seats
    assert "Margin" in margin


def test_overdue_clients_failed_provisioning_and_drafts_to_review(client, business, admin):
    september = db.session.scalars(
        select(Invoice).where(Invoice.client_id == business.ledger.id, Invoice.period == str(SEPTEMBER))
    ).one()
    mark_payment_failed(SETUP, september, "Your card was declined.", utcnow())
    seat = db.session.scalars(select(Seat).where(Seat.client_id == business.bright.id)).first()
    seat.state = SeatState.FAILED
    db.session.commit()

    page = client.get("/reseller/").get_data(as_text=True)

    overdue = section(page, "overdue-clients")
    assert "Ledgerline Accountants 1 $16.00" in overdue
    assert 'href="/reseller/clients/ledger"' in page
    assert "1 failed provisioning" in section(page, "failed-provisioning", "</a>")
    assert 'href="/reseller/provisioning/"' in page
    assert "3 draft bills for October 2026" in section(page, "drafts-2026-10", "</a>")
    assert 'href="/reseller/review/2026-10"' in page


def test_spla_report_due_date_and_who_submitted_it(client, business, admin):
    page = client.get("/reseller/").get_data(as_text=True)
    assert "due Due November 10, 2026." in section(page, "spla-status")

    client.post("/reseller/spla/2026-10/submitted", data={"reference": "SPLA-4471"})

    status = section(client.get("/reseller/").get_data(as_text=True), "spla-status")
    assert "submitted Submitted by ada@northwind-it.example on 2026-11-03" in status
    assert "SPLA-4471" in status


def test_spla_report_is_overdue_after_the_tenth(client, business, admin, clock):
    clock.move_to("2026-11-11T12:00:00Z")

    status = section(client.get("/reseller/").get_data(as_text=True), "spla-status")

    assert "overdue Overdue: it was due November 10, 2026." in status


def test_seats_by_product_and_state(client, business, admin):
    seat = db.session.scalars(select(Seat).where(Seat.client_id == business.bright.id)).first()
    seat.state = SeatState.FAILED
    db.session.commit()

    matrix = section(client.get("/reseller/").get_data(as_text=True), "seats-by-state")

    # Columns: active, failed. Bob's cancelled desktop is not counted.
    assert "Hosted Desktop 5 1" in matrix
    assert "Hosted Exchange Mailbox 3 0" in matrix


def test_home_with_nothing_yet(client, catalog, admin):
    page = client.get("/reseller/")

    assert page.status_code == 200
    assert b"Nobody holds a licence right now." in page.data
    assert b"Every client is paid up." in page.data


def test_the_home_page_costs_the_same_statements_with_ten_times_the_ledger(
    client, business, admin, count_queries
):
    rng = random.Random(16)
    counted = []
    for intervals in (50, 500):
        random_intervals(rng, intervals)
        db.session.commit()
        db.session.expunge_all()
        with count_queries() as statements:
            response = client.get("/reseller/")
        assert response.status_code == 200
        counted.append(len(statements))

    assert counted[0] == counted[1]
