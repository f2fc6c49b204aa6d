"""The generated SIP password of a VoIP seat is shown to the client admin exactly once."""

from __future__ import annotations

from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.catalog.services import get_product
from portal.db import db
from portal.orders.models import SeatState
from portal.sealing import seal
from provisioning import place_order
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
    assert "Sip-Pass-8842" in shown.get_data(as_text=True)
    assert seat.external_id in shown.get_data(as_text=True)
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
