"""Placing orders and assigning seats. The provisioning engine acts on what these record."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import Client, ClientStatus, EndUser
from portal.audit.services import Actor, record
from portal.catalog.models import Product
from portal.db import db
from portal.errors import Conflict, InvalidInput, NotFound
from portal.orders.models import DesiredState, Order, Seat, SeatState

MAX_SEATS_PER_ORDER = 500


def place_order(
    actor: Actor, client: Client, product: Product, quantity: int, end_users: list[EndUser] | None = None
) -> Order:
    """Order ``quantity`` seats; the first ``len(end_users)`` are assigned to those people."""
    end_users = end_users or []
    if not 1 <= quantity <= MAX_SEATS_PER_ORDER:
        raise InvalidInput(
            f"Order from 1 to {MAX_SEATS_PER_ORDER} seats.",
            fields={"quantity": f"From 1 to {MAX_SEATS_PER_ORDER}."},
        )
    if len(end_users) > quantity:
        raise InvalidInput("More people than seats.", fields={"end_users": "At most one person per seat."})
    if len({user.id for user in end_users}) != len(end_users):
        raise InvalidInput("A person appears twice.", fields={"end_users": "Each person once."})
    if any(user.client_id != client.id for user in end_users):
        raise InvalidInput("Unknown end user.", fields={"end_users": "Unknown end user."})
    if not product.active:
        raise InvalidInput(
            f"{product.name} cannot be ordered any more.", fields={"product": "Not available."}
        )
    if client.status is ClientStatus.SUSPENDED:
        raise Conflict(f"{client.name} is suspended; orders are paused until it is resumed.")
    order = Order(
        client=client,
        product=product,
        quantity=quantity,
        unit_price_minor=product.price_minor,
        currency=product.currency,
        placed_by_user_id=actor.user_id,
        placed_by_token_id=actor.token_id,
    )
    db.session.add(order)
    for index in range(quantity):
        end_user = end_users[index] if index < len(end_users) else None
        order.seats.append(
            Seat(
                client=client,
                product=product,
                end_user=end_user,
                state=SeatState.ORDERED,
                desired_state=DesiredState.ACTIVE,
            )
        )
    db.session.flush()
    record(
        actor,
        "order.placed",
        "order",
        order.id,
        client_id=client.id,
        details={
            "product": product.code,
            "quantity": quantity,
            "assigned": [user.email for user in end_users],
        },
    )
    return order


def seats_of(client: Client) -> list[Seat]:
    return list(db.session.scalars(select(Seat).where(Seat.client_id == client.id).order_by(Seat.id)))


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
