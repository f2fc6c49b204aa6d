"""``/seats``: read seats, assign and unassign them, retry failed ones, reset a phone's SIP password,
cancel them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import EndUser, Role
from portal.api.auth import WRITERS, acting_client, api_actor, current_token, token_person_email
from portal.api.bodies import Body, Integer, client_field
from portal.api.endpoints import endpoint
from portal.api.errors import ApiError
from portal.api.paging import DEFAULT_LIMIT, MAX_LIMIT, document_list, list_query, next_link, since_filter
from portal.api.representations import seat_json, timestamp
from portal.catalog.models import Product
from portal.db import db
from portal.errors import NotFound
from portal.listing import SortKey, clean_search, contains, encode_cursor, keyset_page
from portal.orders.models import DesiredState, Seat
from portal.orders.services import get_end_user_for_client
from provisioning import assign_seat, cancel_seat, reset_sip_password, retry_seat, unassign_seat

ASSIGN = Body(
    {
        "client": client_field(),
        "end_user": Integer(description="The id of the end user to assign the seat to.", required=True),
    }
)
CLIENT_ONLY = Body({"client": client_field()}, "Only reseller tokens need a body, to name the client.")
_OWN_SEATS = "A client_user token sees only the seats assigned to its own person (by e-mail)."
DEFAULT_SEAT_PAGE = DEFAULT_LIMIT
MAX_SEAT_PAGE = MAX_LIMIT
SEAT_PAGE = list_query(
    "seats",
    search="person's name or e-mail, or product code,",
    updated_since=True,
    after=Integer(
        description="Older form of `cursor`: the `next_after` of the previous page (a seat id).",
        minimum=0,
    ),
)
SEAT_KEYS = (SortKey(Seat.id),)


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


def _seat_row_json(row: Sequence[Any]) -> dict[str, Any]:
    """What :func:`portal.api.representations.seat_json` answers, from the columns of one row."""
    seat_id, product, state, desired, user_id, name, email, created_at, activated_at, last_error = row
    return {
        "id": seat_id,
        "product": product,
        "state": state.value,
        "desired_state": desired.value,
        "end_user": None if user_id is None else {"id": user_id, "name": name, "email": email},
        "created_at": timestamp(created_at),
        "activated_at": timestamp(activated_at),
        "last_error": last_error,
    }


@endpoint(
    "GET",
    "/seats",
    summary="The client's seats, a page at a time",
    description=_OWN_SEATS
    + f" Seats come in id order, {DEFAULT_SEAT_PAGE} a page unless `limit` says otherwise (at most"
    f" {MAX_SEAT_PAGE}); follow the answer's `next` link (or pass `next_after` as `after`) for the"
    " next page.",
    tag="seats",
    client_scoped=True,
    ok_schema="SeatList",
    query=SEAT_PAGE,
)
def list_seats(query: dict[str, Any]) -> dict[str, Any]:
    limit = query.get("limit", DEFAULT_SEAT_PAGE)
    client = acting_client()
    # Plain columns, not Seat objects: a page of 500 costs one query and no identity map.
    rows = select(
        Seat.id,
        Product.code,
        Seat.state,
        Seat.desired_state,
        EndUser.id,
        EndUser.name,
        EndUser.email,
        Seat.created_at,
        Seat.activated_at,
        Seat.last_error,
    ).join(Product, Product.id == Seat.product_id)
    token = current_token()
    if token.role is Role.CLIENT_USER:
        email = token_person_email(token)
        rows = rows.join(EndUser, EndUser.id == Seat.end_user_id).where(
            EndUser.email == email if email is not None else false()
        )
    else:
        rows = rows.outerjoin(EndUser, EndUser.id == Seat.end_user_id)
    rows = rows.where(Seat.client_id == client.id)
    if term := clean_search(query.get("q")):
        # The outer join leaves unassigned seats' person NULL: they match on the product code only.
        rows = rows.where(or_(contains(EndUser.search_text, term), contains(Product.code, term)))
    if (changed := since_filter(Seat.updated_at, query)) is not None:
        rows = rows.where(changed)
    cursor = query.get("cursor")
    if cursor is None and query.get("after"):
        cursor = encode_cursor("api.seats", True, [query["after"]])
    page = keyset_page(
        rows, SEAT_KEYS, lambda row: (row[0],), list_name="api.seats", cursor=cursor, limit=limit
    )
    seats = [_seat_row_json(row) for row in page.rows]
    return {
        "seats": seats,
        "next_after": seats[-1]["id"] if page.next_cursor is not None and seats else None,
        "next": next_link(page),
    }


document_list("/seats")


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
    "POST",
    "/seats/{seat_id}/sip-password",
    summary="Set a new SIP password for a phone seat",
    description="Seatmeter generates the new password and sets it on the phone system in the background; "
    "the old password is refused from then on. The new password is never sent through the API: a client "
    "administrator shows it once on the seat's page in the portal.",
    tag="seats",
    roles=WRITERS,
    client_scoped=True,
    body=CLIENT_ONLY,
    ok_status=202,
    ok_schema="Seat",
    ok_description="The seat; the new password follows in the background.",
    conflict="The seat is not a phone seat, is not active, or a new password is already being set.",
)
def sip_password(seat_id: int, body: dict[str, Any]) -> dict[str, Any]:
    seat = _seat(seat_id, body.get("client"))
    return seat_json(reset_sip_password(api_actor(), seat))


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
