"""Who may do what in the reseller console.

Both reseller roles see every page, review bills, hold, release and approve them, file the SPLA report
and download exports. Only a reseller administrator suspends or resumes a client or changes prices.
Client users see none of it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from metering.billing.models import Invoice, InvoiceStatus
from metering.spla.models import SplaSubmission
from portal.accounts.models import Role
from portal.db import db


def october_invoice(business) -> Invoice:
    return db.session.scalars(
        select(Invoice).where(Invoice.client_id == business.acme.id, Invoice.period == "2026-10")
    ).one()


def pages(business) -> list[str]:
    invoice = october_invoice(business)
    return [
        "/reseller/",
        "/reseller/clients/acme",
        "/reseller/review/2026-10",
        f"/reseller/review/2026-10/invoices/{invoice.id}",
        "/reseller/spla/2026-10",
        "/reseller/spla/2026-10/report.csv",
        "/reseller/exports/2026-10",
        "/reseller/exports/2026-10/quickbooks-online.csv",
        "/reseller/exports/2026-10/quickbooks-desktop.iif",
        "/reseller/audit/",
        "/reseller/price-book/",
    ]


@pytest.mark.parametrize("role", [Role.RESELLER_ADMIN, Role.RESELLER_STAFF])
def test_both_reseller_roles_see_every_page(client, business, make_user, login, role):
    login(make_user(role))

    for url in pages(business):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("role", [Role.CLIENT_ADMIN, Role.CLIENT_USER])
def test_client_users_see_none_of_it(client, business, make_user, login, role):
    login(make_user(role, business.acme))
    invoice = october_invoice(business)

    for url in pages(business):
        assert client.get(url).status_code == 403, url
    for url in (
        f"/reseller/review/2026-10/invoices/{invoice.id}/approve",
        f"/reseller/review/2026-10/invoices/{invoice.id}/hold",
        "/reseller/review/2026-10/approve-all",
        "/reseller/spla/2026-10/submitted",
        "/reseller/clients/acme/suspend",
    ):
        assert client.post(url, data={"reason": "x"}).status_code == 403, url
    assert october_invoice(business).status is InvoiceStatus.DRAFT


def test_anonymous_visitors_are_sent_to_log_in(client, business):
    for url in pages(business):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login")


def test_staff_review_approve_and_file_but_do_not_suspend_or_change_prices(client, business, staff):
    invoice = october_invoice(business)
    page = client.get("/reseller/review/2026-10").get_data(as_text=True)
    assert 'id="approve-all"' in page

    client.post(f"/reseller/review/2026-10/invoices/{invoice.id}/approve")
    client.post("/reseller/spla/2026-10/submitted", data={})

    db.session.expire_all()
    assert october_invoice(business).status is InvoiceStatus.FINALIZED
    assert db.session.get(SplaSubmission, "2026-10").submitted_by == staff.email
    assert client.post("/reseller/clients/acme/suspend", data={"reason": "x"}).status_code == 403
    assert client.post("/reseller/price-book/products/desktop", data={"price": "1.00"}).status_code == 403
    assert "Suspend the client" not in client.get("/reseller/clients/acme").get_data(as_text=True)


def test_admin_sees_the_suspend_form(client, business, admin):
    assert "Suspend the client" in client.get("/reseller/clients/acme").get_data(as_text=True)
