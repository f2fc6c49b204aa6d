"""Every console page runs the same number of SQL statements with 3 clients or 10, 20 seats or 80:
nothing is loaded row by row (no N+1)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from metering.billing.models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from metering.billing.review import approve_invoice
from metering.periods import BillingPeriod
from portal.accounts.models import Client
from portal.db import db, utcnow
from tests.portal.reseller.conftest import OCTOBER, SEPTEMBER
from tests.portal.reseller.world import (
    SETUP,
    UTC_ZONE,
    add_client,
    add_people,
    card_on_file,
    close,
    give,
    usage_start,
)


def _invoice(client_id: int, period: BillingPeriod) -> Invoice:
    return db.session.scalars(
        select(Invoice).where(Invoice.client_id == client_id, Invoice.period == str(period))
    ).one()


def _approve(client_id: int) -> None:
    approve_invoice(SETUP, _invoice(client_id, OCTOBER), UTC_ZONE, utcnow())
    db.session.commit()


def _grow(acme_id: int, clients: int) -> list[int]:
    """More clients with more people, seats, usage, adjustments and invoices; more seats at Acme."""
    october, _ = OCTOBER.bounds(UTC_ZONE)
    september, _ = SEPTEMBER.bounds(UTC_ZONE)
    acme = db.session.get_one(Client, acme_id)
    for person in add_people(acme, "Fay Fox", "Gus Gray", "Hal Hunt"):
        give(acme, person, "desktop-pro", october + timedelta(days=19))
        give(acme, person, "voip", october + timedelta(days=20))
    new_ids = []
    for number in range(clients):
        client = add_client(f"grown-{number}", f"Grown Client {number}")
        people = add_people(client, *(f"Person{n} Grown" for n in range(8)))
        for index, person in enumerate(people):
            give(client, person, "desktop" if index % 2 else "exchange-plus", october + timedelta(days=index))
            if index < 2:
                # Held in September too, written after September was finalized: an adjustment line.
                give(client, person, "voip", september + timedelta(days=3), october + timedelta(days=2))
        usage_start(
            client, f"rmm-only-{number}@grown.example", "desktop", october + timedelta(days=5), f"g-{number}"
        )
        if number % 2:
            card_on_file(client)
        new_ids.append(client.id)
    db.session.commit()
    close(OCTOBER)
    return new_ids


def _count(client, count_queries, url: str) -> int:
    db.session.expunge_all()  # nothing the test loaded may save the page a query
    with count_queries() as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(statements)


def test_pages_do_not_query_per_row(client, business, admin, count_queries):
    acme_id, ledger_id = business.acme.id, business.ledger.id
    _approve(ledger_id)
    acme_october = _invoice(acme_id, OCTOBER).id
    urls = [
        "/reseller/",
        "/reseller/clients",
        "/reseller/clients/acme",
        "/reseller/review/2026-10",
        "/reseller/review/2026-10?show=flagged",
        f"/reseller/review/2026-10/invoices/{acme_october}",
        "/reseller/review/2026-09",
        "/reseller/spla/2026-10",
        "/reseller/spla/2026-10/report.csv",
        "/reseller/exports/2026-10",
        "/reseller/exports/2026-10/quickbooks-online.csv",
        "/reseller/exports/2026-10/quickbooks-desktop.iif",
        "/reseller/audit/",
    ]
    for url in urls:
        _count(client, count_queries, url)  # warm up
    small = {url: _count(client, count_queries, url) for url in urls}

    grown = _grow(acme_id, clients=7)
    for client_id in grown[:3]:
        _approve(client_id)
    sizes = db.session.execute(select(Invoice.status, Invoice.id).where(Invoice.period == str(OCTOBER))).all()
    assert len(sizes) == 10 and sum(1 for status, _ in sizes if status is InvoiceStatus.FINALIZED) == 4
    adjustments = db.session.scalars(
        select(InvoiceLine.id).where(InvoiceLine.kind == LineKind.ADJUSTMENT)
    ).all()
    assert adjustments  # late September usage of the grown clients, billed on their October invoices
    large = {url: _count(client, count_queries, url) for url in urls}

    assert large == small
    assert max(small.values()) <= 20, small
