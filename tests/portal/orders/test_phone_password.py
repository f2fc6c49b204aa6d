"""A VoIP seat's sign-in: the SIP account on the seat page, the generated password shown once in a
proper page, and a new password the client admin asks for."""

from __future__ import annotations

from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.catalog.services import get_product
from portal.db import db
from portal.orders.models import DesiredState, SeatState
from portal.sealing import seal
from provisioning import place_order, suspend_client
from provisioning.models import SeatWork
from tests.portal.orders.conftest import TESTS


def _provisioned_phone(tenant, password="Sip-Pass-8842"):
    seat = place_order(TESTS, tenant.client, get_product("voip"), 1, [tenant.alice]).seats[0]
    seat.state = SeatState.ACTIVE
    seat.external_id = f"1{seat.id:03d}@acme.voip.localhost"
    SeatWork.of(seat).secret_ciphertext = seal(password)
    db.session.commit()
    return seat


def test_the_admin_sees_the_password_once(client, acme, as_acme_admin):
    seat = _provisioned_phone(acme)

    detail = client.get(f"/client/seats/{seat.id}").get_data(as_text=True)
    shown = client.post(f"/client/seats/{seat.id}/phone-password")
    again = client.post(f"/client/seats/{seat.id}/phone-password", follow_redirects=True)

    assert "Show the password once" in detail
    assert shown.status_code == 200
    assert shown.mimetype == "text/html"
    assert '<code id="sip-password">Sip-Pass-8842</code>' in shown.get_data(as_text=True)
    assert "Sip-Pass-8842" in shown.get_data(as_text=True)
    username, domain = seat.external_id.split("@")
    assert f'<code id="sip-account">{username}</code>' in shown.get_data(as_text=True)
    assert f'<code id="sip-domain">{domain}</code>' in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    assert "Sip-Pass-8842" not in again.get_data(as_text=True)
    assert "already shown once" in again.get_data(as_text=True)
    assert "Show the password once" not in client.get(f"/client/seats/{seat.id}").get_data(as_text=True)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "seat.secret_shown")).one()
    assert "Sip-Pass-8842" not in str(event.details)


def test_another_clients_phone_password_is_not_found(client, acme, other, as_acme_admin):
    seat = _provisioned_phone(other)

    response = client.post(f"/client/seats/{seat.id}/phone-password")

    assert response.status_code == 404


def test_the_seat_page_shows_the_sip_account_domain_and_server(client, acme, as_acme_admin):
    seat = _provisioned_phone(acme)

    page = client.get(f"/client/seats/{seat.id}").get_data(as_text=True)

    username, domain = seat.external_id.split("@")
    assert f'<code id="sip-account">{username}</code>' in page
    assert f'<code id="sip-domain">{domain}</code>' in page
    # SIP_SERVER is not set in tests: phones register at SIP_DOMAIN.
    assert '<code id="sip-server">voip.localhost</code>' in page


def test_resetting_the_phone_password_asks_the_workers_for_a_new_one(client, acme, as_acme_admin):
    seat = _provisioned_phone(acme)
    client.post(f"/client/seats/{seat.id}/phone-password")  # the first password, seen
    revision = seat.revision

    page = client.get(f"/client/seats/{seat.id}").get_data(as_text=True)
    reset = client.post(f"/client/seats/{seat.id}/reset-phone-password")
    again = client.post(f"/client/seats/{seat.id}/reset-phone-password", follow_redirects=True)

    assert "Reset the phone password" in page
    assert reset.status_code == 302
    db.session.refresh(seat)
    assert SeatWork.of(seat).secret_reset_wanted
    assert seat.revision == revision + 1
    assert seat.state is SeatState.ACTIVE  # the phone keeps working until the new password is set
    assert "already being set" in again.get_data(as_text=True)
    waiting = client.get(f"/client/seats/{seat.id}").get_data(as_text=True)
    assert 'id="reset-pending"' in waiting
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "seat.password_reset")).one()
    assert event.details == {"external_id": seat.external_id}


def test_a_suspended_phone_gets_no_new_password(client, acme, as_acme_admin):
    seat = _provisioned_phone(acme)
    suspend_client(TESTS, acme.client, "unpaid invoice")
    db.session.commit()

    response = client.post(f"/client/seats/{seat.id}/reset-phone-password")

    assert response.status_code == 409
    assert "suspended" in response.get_data(as_text=True)
    db.session.refresh(seat)
    assert seat.desired_state is DesiredState.SUSPENDED
    assert not SeatWork.of(seat).secret_reset_wanted


def test_a_desktop_seat_has_no_phone_password_to_reset(client, acme, as_acme_admin):
    seat = place_order(TESTS, acme.client, get_product("desktop"), 1, [acme.alice]).seats[0]
    seat.state = SeatState.ACTIVE
    db.session.commit()

    page = client.get(f"/client/seats/{seat.id}").get_data(as_text=True)
    response = client.post(f"/client/seats/{seat.id}/reset-phone-password")

    assert "sip-account" not in page
    assert "Reset the phone password" not in page
    assert response.status_code == 409
    assert "not a phone seat" in response.get_data(as_text=True)


def test_another_clients_phone_password_cannot_be_reset(client, acme, other, as_acme_admin):
    seat = _provisioned_phone(other)

    response = client.post(f"/client/seats/{seat.id}/reset-phone-password")

    assert response.status_code == 404
