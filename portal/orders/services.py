"""Looking up a client's seats and end users for the portal; seat changes are in provisioning.seats."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import Client, EndUser
from portal.db import db
from portal.errors import NotFound
from portal.orders.models import Seat


def get_seat_for_client(client: Client, seat_id: int) -> Seat:
    """A seat of this client; another client's seat is "not found", never "forbidden"."""
    seat = db.session.scalars(select(Seat).where(Seat.id == seat_id, Seat.client_id == client.id)).first()
    if seat is None:
        raise NotFound(f"No seat #{seat_id}.")
    return seat


def get_end_user_for_client(client: Client, end_user_id: int) -> EndUser:
    """An end user of this client; another client's end user is "not found"."""
    end_user = db.session.scalars(
        select(EndUser).where(EndUser.id == end_user_id, EndUser.client_id == client.id)
    ).first()
    if end_user is None:
        raise NotFound(f"No end user #{end_user_id}.")
    return end_user
