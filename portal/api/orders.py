"""``POST /orders``: order seats of a product, optionally assigned to end users at once."""

from __future__ import annotations

from typing import Any

from portal.api.auth import WRITERS, acting_client, api_actor
from portal.api.bodies import Body, IdList, Integer, Text, client_field
from portal.api.endpoints import endpoint
from portal.api.errors import ApiError
from portal.catalog.services import get_product
from portal.errors import NotFound
from portal.orders.services import get_end_user_for_client
from provisioning import MAX_SEATS_PER_ORDER, place_order

NEW_ORDER = Body(
    {
        "client": client_field(),
        "product": Text(
            description="The product's code, from GET /catalog.",
            required=True,
            max_length=32,
            pattern=r"[a-z0-9-]{1,32}",
            problem="A product code from the catalog, e.g. desktop.",
        ),
        "quantity": Integer(
            description="How many seats.", required=True, minimum=1, maximum=MAX_SEATS_PER_ORDER
        ),
        "end_users": IdList(
            description="End users to assign the first seats to, one seat each (at most `quantity`).",
            max_items=MAX_SEATS_PER_ORDER,
        ),
    }
)


@endpoint(
    "POST",
    "/orders",
    summary="Order seats",
    description="The seats are created at once and provisioned in the background; follow them with "
    "GET /seats/{seat_id}. A product or end user that does not exist (for this client) is a 422.",
    tag="orders",
    roles=WRITERS,
    client_scoped=True,
    body=NEW_ORDER,
    ok_status=201,
    ok_schema="OrderPlaced",
    ok_description="The order and the ids of its seats.",
    conflict="The client is suspended, or an end user already has a seat of this kind.",
)
def create_order(body: dict[str, Any]) -> dict[str, Any]:
    client = acting_client(body.get("client"))
    try:
        product = get_product(body["product"])
    except NotFound:
        raise ApiError(
            422, "invalid", "There is no such product.", {"product": "Not in the catalog."}
        ) from None
    end_users = []
    for end_user_id in body.get("end_users", []):
        try:
            end_users.append(get_end_user_for_client(client, end_user_id))
        except NotFound:
            raise ApiError(
                422, "invalid", f"There is no end user #{end_user_id}.", {"end_users": "Unknown end user."}
            ) from None
    order = place_order(api_actor(), client, product, body["quantity"], end_users)
    return {"order": order.id, "seats": [seat.id for seat in order.seats]}
