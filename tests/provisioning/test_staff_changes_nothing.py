"""Reseller staff see the provisioning queue but cannot retry or cancel a client's seat."""

from __future__ import annotations

from portal.accounts.models import Role
from portal.db import db
from portal.orders.models import DesiredState, SeatState
from tests.provisioning.test_views import failed_desktop


def test_staff_can_neither_retry_nor_cancel_a_seat(client, login, make_user, acme, person):
    seat = failed_desktop(acme, person)
    login(make_user(Role.RESELLER_STAFF))

    retry = client.post(f"/reseller/provisioning/seats/{seat.id}/retry")
    cancel = client.post(f"/reseller/provisioning/seats/{seat.id}/cancel")

    assert (retry.status_code, cancel.status_code) == (403, 403)
    db.session.refresh(seat)
    assert seat.state is SeatState.FAILED and seat.revision == 1
    assert seat.desired_state is not DesiredState.TERMINATED
    # Nor are they offered the buttons.
    page = client.get(f"/reseller/provisioning/seats/{seat.id}").get_data(as_text=True)
    assert "/retry" not in page and "/cancel" not in page
