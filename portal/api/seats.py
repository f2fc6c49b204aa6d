"""``/seats``: read seats, assign and unassign them, retry failed ones, cancel them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import EndUser, Role
from portal.api.auth import WRITERS, acting_client, api_actor, current_token, token_person_email
from portal.api.bodies import Body, Integer, client_field
from portal.api.endpoints import endpoint
from portal.api.errors import ApiError
from portal.api.representations import seat_json
from portal.db import db
from portal.errors import NotFound
from portal.orders.models import DesiredState, Seat
from portal.orders.services import get_end_user_for_client
from provisioning import assign_seat, cancel_seat, retry_seat, unassign_seat

ASSIGN = Body(
    {
        "client": client_field(),
        "end_user": Integer(description="The id of the end user to assign the seat to.", required=True),
    }
)
CLIENT_ONLY = Body({"client": client_field()}, "Only reseller tokens need a body, to name the client.")
_OWN_SEATS = "A client_user token sees only the seats assigned to its own person (by e-mail)."


def _visible_seats(client_ref: str | None = None) -> Select[Seat]:
    """The seats the token may see: the client's, or for a client_user token only their own."""
    client = acting_client(client_ref)
    query = (
        select(Seat)
        .options(selectinload(Seat.product), selectinload(Seat.end_user))
        .where(Seat.client_id == client.id)
        .order_by(Seat.id)
    )
    token = current_token()
    if token.role is Role.CLIENT_USER:
        email = token_person_email(token)
        if email is None:
            return query.where(false())
        query = query.join(EndUser, EndUser.id == Seat.end_user_id).where(EndUser.email == email)
    return query


def _seat(seat_id: int, client_ref: str | None = None) -> Seat:
    seat = db.session.scalars(_visible_seats(client_ref).where(Seat.id == seat_id)).first()
    if seat is None:
        raise NotFound(f"No seat #{seat_id}.")
    return seat


@endpoint(
    "GET",
    "/seats",
    summary="The client's seats",
    description=_OWN_SEATS,
    tag="seats",
    client_scoped=True,
    ok_schema="SeatList",
)
def list_seats() -> dict[str, Any]:
    return {"seats": [seat_json(seat) for seat in db.session.scalars(_visible_seats())]}


@endpoint(
    "GET",
    "/seats/{seat_id}",
    summary="One seat",
    description=_OWN_SEATS,
    tag="seats",
    client_scoped=True,
    ok_schema="Seat",
)
def get_seat(seat_id: int) -> dict[str, Any]:
    return seat_json(_seat(seat_id))


@endpoint(
    "POST",
    "/seats/{seat_id}/assign",
    summary="Assign a seat to an end user, or reassign it",
    description="An end user that does not exist (for this client) is a 422.",
    tag="seats",
    roles=WRITERS,
    client_scoped=True,
    body=ASSIGN,
    ok_schema="Seat",
    ok_description="The seat; the platforms follow in the background.",
    conflict="The seat is cancelled or suspended, or the person already has a seat of this kind.",
)
def assign(seat_id: int, body: dict[str, Any]) -> dict[str, Any]:
    seat = _seat(seat_id, body.get("client"))
    try:
        end_user = get_end_user_for_client(seat.client, body["end_user"])
    except NotFound:
        raise ApiError(
            422, "invalid", f"There is no end user #{body['end_user']}.", {"end_user": "Unknown end user."}
        ) from None
    return seat_json(assign_seat(api_actor(), seat, end_user))


@endpoint(
    "POST",
    "/seats/{seat_id}/unassign",
    summary="Take a seat away from its end user",
    tag="seats",
    roles=WRITERS,
    client_scoped=True,
    body=CLIENT_ONLY,
    ok_schema="Seat",
    ok_description="The seat; the platforms follow in the background.",
    conflict="The seat is cancelled or not assigned to anyone.",
)
def unassign(seat_id: int, body: dict[str, Any]) -> dict[str, Any]:
    seat = _seat(seat_id, body.get("client"))
    return seat_json(unassign_seat(api_actor(), seat))


@endpoint(
    "POST",
    "/seats/{seat_id}/retry",
    summary="Try a failed seat again",
    tag="seats",
    roles=WRITERS,
    client_scoped=True,
    body=CLIENT_ONLY,
    ok_schema="Seat",
    ok_description="The seat; the platforms follow in the background.",
    conflict="The seat has not failed.",
)
def retry(seat_id: int, body: dict[str, Any]) -> dict[str, Any]:
    seat = _seat(seat_id, body.get("client"))
    return seat_json(retry_seat(api_actor(), seat))


@endpoint(
    "DELETE",
    "/seats/{seat_id}",
    summary="Cancel a seat",
    description="The seat's account is removed from the platform and billing stops. Cancelling a seat "
    "that is already cancelled changes nothing and answers the seat.",
    tag="seats",
    roles=WRITERS,
    client_scoped=True,
    ok_schema="Seat",
    ok_description="The seat, with desired_state terminated.",
    conflict="The seat cannot be cancelled in its state.",
)
def cancel(seat_id: int) -> dict[str, Any]:
    seat = _seat(seat_id)
    if seat.desired_state is not DesiredState.TERMINATED:
        cancel_seat(api_actor(), seat)
    return seat_json(seat)
