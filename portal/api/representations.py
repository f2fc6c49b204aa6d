"""How objects look in the API's JSON, next to the OpenAPI schema that describes each shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.accounts.models import Client, ClientStatus, EndUser
from portal.api.openapi import add_schema, ref
from portal.catalog.models import Product, ProductBilling, ProductKind
from portal.orders.models import DesiredState, Seat, SeatState

TIMESTAMP = {"type": "string", "format": "date-time", "description": "UTC, RFC 3339."}
NEXT_LINK = {
    "type": ["string", "null"],
    "description": "The address of the next page (same filters, with `cursor`); null on the last page.",
}
OPTIONAL_TIMESTAMP = {"type": ["string", "null"], "format": "date-time", "description": "UTC, RFC 3339."}


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def object_schema(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }
    if description:
        schema["description"] = description
    return schema


# --- catalog ------------------------------------------------------------------------------------

add_schema(
    "Product",
    object_schema(
        {
            "code": {"type": "string", "description": "What to order it by, e.g. desktop."},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "kind": {"type": "string", "enum": [kind.value for kind in ProductKind]},
            "billing": {
                "type": "string",
                "enum": [billing.value for billing in ProductBilling],
                "description": "per_user: ordered as seats, billed per user per month; metered: "
                "billed per unit used (e.g. call minutes), not ordered.",
            },
            "unit": {"type": "string", "description": "What price_minor is the price of: user, minute, …"},
            "price_minor": {
                "type": "integer",
                "minimum": 0,
                "description": "Price in minor units (cents): per seat per month, or per unit used.",
            },
            "currency": {"type": "string", "description": "ISO 4217, e.g. USD."},
            "skus": {
                "type": "array",
                "description": "The licences one seat gives its user.",
                "items": object_schema({"code": {"type": "string"}, "name": {"type": "string"}}),
            },
        }
    ),
)
add_schema("Catalog", object_schema({"products": {"type": "array", "items": ref("Product")}}))


def product_json(product: Product) -> dict[str, Any]:
    return {
        "code": product.code,
        "name": product.name,
        "description": product.description,
        "kind": product.kind.value,
        "billing": product.billing.value,
        "unit": product.unit,
        "price_minor": product.price_minor,
        "currency": product.currency,
        "skus": [{"code": sku.code, "name": sku.name} for sku in product.skus],
    }


# --- clients ------------------------------------------------------------------------------------

add_schema(
    "Client",
    object_schema(
        {
            "ref": {"type": "string", "description": "The client's reference, used as `client`."},
            "name": {"type": "string"},
            "status": {"type": "string", "enum": [status.value for status in ClientStatus]},
            "billing_email": {"type": ["string", "null"]},
            "created_at": TIMESTAMP,
        }
    ),
)
add_schema(
    "ClientList",
    object_schema(
        {"clients": {"type": "array", "items": ref("Client")}, "next": NEXT_LINK},
        "One page of clients by name (see `limit` and `cursor`).",
    ),
)


def client_json(client: Client) -> dict[str, Any]:
    return {
        "ref": client.ref,
        "name": client.name,
        "status": client.status.value,
        "billing_email": client.billing_email,
        "created_at": timestamp(client.created_at),
    }


# --- end users ----------------------------------------------------------------------------------

add_schema(
    "EndUser",
    object_schema(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "email": {"type": "string", "description": "E-mail address or user principal name."},
            "extension": {"type": ["string", "null"], "description": "Phone extension, for VoIP seats."},
            "created_at": TIMESTAMP,
        },
        "A person at the client whom seats are assigned to.",
    ),
)
add_schema(
    "EndUserList",
    object_schema(
        {"end_users": {"type": "array", "items": ref("EndUser")}, "next": NEXT_LINK},
        "One page of end users by name (see `limit` and `cursor`).",
    ),
)


def end_user_json(end_user: EndUser) -> dict[str, Any]:
    return {
        "id": end_user.id,
        "name": end_user.name,
        "email": end_user.email,
        "extension": end_user.extension,
        "created_at": timestamp(end_user.created_at),
    }


# --- seats and orders ---------------------------------------------------------------------------

add_schema(
    "Seat",
    object_schema(
        {
            "id": {"type": "integer"},
            "product": {"type": "string", "description": "The product's code."},
            "state": {
                "type": "string",
                "enum": [state.value for state in SeatState],
                "description": "What the platform is known to have.",
            },
            "desired_state": {
                "type": "string",
                "enum": [state.value for state in DesiredState],
                "description": "What was asked for; the workers move `state` towards it.",
            },
            "end_user": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "required": ["id", "name", "email"],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "email": {"type": "string"},
                },
                "description": "Who the seat is assigned to; null when nobody.",
            },
            "created_at": TIMESTAMP,
            "activated_at": OPTIONAL_TIMESTAMP,
            "last_error": {
                "type": ["string", "null"],
                "description": "Why the last provisioning step failed, in plain words.",
            },
        }
    ),
)
add_schema(
    "SeatList",
    object_schema(
        {
            "seats": {"type": "array", "items": ref("Seat")},
            "next_after": {
                "type": ["integer", "null"],
                "description": "Pass as `after` for the next page; null on the last page.",
            },
            "next": NEXT_LINK,
        },
        "One page of seats in id order (see `limit` and `cursor`).",
    ),
)
add_schema(
    "OrderPlaced",
    object_schema(
        {
            "order": {"type": "integer", "description": "The order's id."},
            "seats": {"type": "array", "items": {"type": "integer"}, "description": "The new seats' ids."},
        }
    ),
)


def seat_json(seat: Seat) -> dict[str, Any]:
    end_user = seat.end_user
    return {
        "id": seat.id,
        "product": seat.product.code,
        "state": seat.state.value,
        "desired_state": seat.desired_state.value,
        "end_user": None
        if end_user is None
        else {"id": end_user.id, "name": end_user.name, "email": end_user.email},
        "created_at": timestamp(seat.created_at),
        "activated_at": timestamp(seat.activated_at),
        "last_error": seat.last_error,
    }
