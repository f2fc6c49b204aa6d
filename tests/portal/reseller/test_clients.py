"""Each client's page for the reseller, and suspending or resuming a client."""

from __future__ import annotations

from sqlalchemy import select

from metering.billing.models import Invoice
from portal.accounts.models import ClientStatus
from portal.audit.models import AuditEvent
from portal.db import db
from portal.orders.models import DesiredState, Seat


def test_the_clients_page_shows_seats_people_invoices_and_activity(client, business, staff):
    listing = client.get("/reseller/clients?q=acme").get_data(as_text=True)
    assert 'href="/reseller/clients/acme"' in listing

    page = client.get("/reseller/clients/acme").get_data(as_text=True)

    assert "Acme Law LLP" in page
    for person in ("Alice Archer", "Carol Cruz", "Dave Dunn", "Bob Baker"):
        assert person in page  # end users (Bob's cancelled seat is not listed, he is)
    assert page.count('<tr id="seat-') == 3  # Alice's and Carol's desktops, Dave's mailbox
    october = db.session.scalars(
        select(Invoice).where(Invoice.client_id == business.acme.id, Invoice.period == "2026-10")
    ).one()
    assert october.number in page and "draft" in page  # October's draft
    assert "not sent for payment: Stripe is not configured" in page  # September, finalized
    assert "Visa ··4242" in page
    assert "order.placed" in page  # activity
    assert 'href="/reseller/audit/?client=acme"' in page
    assert "Suspend the client" not in page  # staff cannot


def test_an_unknown_client_is_not_found(client, business, staff):
    assert client.get("/reseller/clients/nobody").status_code == 404
    assert client.post("/reseller/clients/nobody/suspend", data={"reason": "x"}).status_code == 403


def test_admin_suspends_and_resumes_a_client_through_provisioning(client, business, admin):
    empty = client.post("/reseller/clients/acme/suspend", data={"reason": ""})
    assert empty.status_code == 422
    assert "Say why; it goes into the audit log." in empty.get_data(as_text=True)

    page = client.post(
        "/reseller/clients/acme/suspend",
        data={"reason": "Asked us to pause over the holidays"},
        follow_redirects=True,
    ).get_data(as_text=True)

    assert "Acme Law LLP is suspended" in page
    db.session.expire_all()
    acme = business.acme
    assert acme.status is ClientStatus.SUSPENDED
    seats = db.session.scalars(
        select(Seat).where(Seat.client_id == acme.id, Seat.desired_state != DesiredState.TERMINATED)
    ).all()
    assert {seat.desired_state for seat in seats} == {DesiredState.SUSPENDED}
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "client.suspended")).one()
    assert event.actor == "ada@northwind-it.example"
    assert event.details["reason"] == "Asked us to pause over the holidays"

    page = client.post("/reseller/clients/acme/resume", follow_redirects=True).get_data(as_text=True)

    assert "Acme Law LLP is active again" in page
    db.session.expire_all()
    assert acme.status is ClientStatus.ACTIVE
    assert {seat.desired_state for seat in seats} == {DesiredState.ACTIVE}
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "client.resumed")).one()


def test_staff_cannot_suspend_or_resume(client, business, staff):
    assert client.post("/reseller/clients/acme/suspend", data={"reason": "no"}).status_code == 403
    assert client.post("/reseller/clients/acme/resume").status_code == 403
    db.session.expire_all()
    assert business.acme.status is ClientStatus.ACTIVE


def test_a_long_reason_is_a_field_error_not_a_500(client, business, admin):
    response = client.post("/reseller/clients/acme/suspend", data={"reason": "x" * 201})

    assert response.status_code == 422
    assert "Field cannot be longer than 200 characters." in response.get_data(as_text=True)
