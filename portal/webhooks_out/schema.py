"""The OpenAPI 3.1 ``webhooks`` section: what each outgoing event's POST carries.

Kept beside the code that builds the payloads (the engines' ``_announce`` functions call
:func:`portal.webhooks_out.services.emit`); ``portal/api/openapi.py`` adds it to the document.
"""

from __future__ import annotations

from typing import Any

from portal.webhooks_out.services import EVENT_TYPES, TEST_EVENT

_STAMP = {"type": ["string", "null"], "format": "date-time"}
_TEXT = {"type": ["string", "null"]}

_SEAT = {
    "seat_id": {"type": "integer"},
    "client_ref": {"type": "string"},
    "product": {"type": "string", "description": "The product's code."},
    "state": {"type": "string", "enum": ["active", "failed", "terminated"]},
    "desired_state": {"type": "string", "enum": ["active", "suspended", "terminated"]},
    "end_user": {**_TEXT, "description": "The e-mail of the person the seat is for, if anyone."},
    "external_id": {**_TEXT, "description": "The account's id on the platform."},
    "error": {**_TEXT, "description": "Why the seat failed (seat.failed only)."},
    "changed_at": {"type": "string", "format": "date-time"},
}
_INVOICE = {
    "invoice_id": {"type": "integer"},
    "number": {"type": "string"},
    "client_ref": {"type": "string"},
    "period": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
    "status": {"type": "string", "enum": ["finalized", "paid", "overdue"]},
    "total_minor": {"type": "integer", "description": "The total in minor units (cents)."},
    "currency": {"type": "string", "minLength": 3, "maxLength": 3},
    "finalized_at": _STAMP,
    "paid_at": _STAMP,
    "overdue_since": _STAMP,
    "payment_error": _TEXT,
}
_CLIENT = {
    "client_ref": {"type": "string"},
    "name": {"type": "string"},
    "reason": {"type": "string", "description": "Why it was suspended (client.suspended only)."},
    "seats": {"type": "integer", "description": "How many seats the change applies to."},
}
_ORDER = {
    "order_id": {"type": "integer"},
    "client_ref": {"type": "string"},
    "product": {"type": "string", "description": "The product's code."},
    "quantity": {"type": "integer"},
    "unit_price_minor": {"type": "integer", "description": "The monthly price of a seat in minor units."},
    "currency": {"type": "string", "minLength": 3, "maxLength": 3},
    "seat_ids": {"type": "array", "items": {"type": "integer"}},
}
_FINDING = {
    "finding_id": {"type": "integer"},
    "what": {"type": "string", "enum": ["found", "reopened"]},
    "platform": {"type": "string"},
    "account": {"type": "string"},
    "kind": {"type": "string"},
    "summary": {"type": "string"},
    "client_ref": _TEXT,
    "product": _TEXT,
    "seat_id": {"type": ["integer", "null"]},
    "user": _TEXT,
    "first_seen_at": {"type": "string", "format": "date-time"},
}
_PERIOD = {
    "period": {"type": "string", "description": "The month, YYYY-MM."},
    "drafts": {"type": "integer", "description": "Draft bills waiting for review."},
}
_TEST = {"endpoint_id": {"type": "integer"}, "sent_by": {"type": "string"}}

_DATA: dict[str, dict[str, Any]] = {
    "order.placed": _ORDER,
    "seat.active": _SEAT,
    "seat.failed": _SEAT,
    "seat.terminated": _SEAT,
    "period.closed": _PERIOD,
    "invoice.finalized": _INVOICE,
    "invoice.paid": _INVOICE,
    "invoice.overdue": _INVOICE,
    "client.suspended": _CLIENT,
    "client.resumed": _CLIENT,
    "trueup.finding": _FINDING,
    TEST_EVENT: _TEST,
}

_HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "The event's id: the same on every retry and redelivery (drop what you have seen).",
        "schema": {"type": "string"},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "When this attempt was signed, in Unix seconds.",
        "schema": {"type": "string"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": "`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` with the endpoint's secret "
        "(Standard Webhooks); verify it with any Standard Webhooks library.",
        "schema": {"type": "string"},
    },
]


def webhooks_section() -> dict[str, Any]:
    """One POST per event type, as OpenAPI 3.1 ``webhooks``."""
    meanings = {**EVENT_TYPES, TEST_EVENT: "Sent by the console's “Send test event” button."}
    section: dict[str, Any] = {}
    for event_type, data in _DATA.items():
        section[event_type] = {
            "post": {
                "summary": meanings[event_type],
                "parameters": _HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["type", "timestamp", "data"],
                                "properties": {
                                    "type": {"const": event_type},
                                    "timestamp": {"type": "string", "format": "date-time"},
                                    "data": {"type": "object", "properties": data},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Any 2xx: delivered. Anything else, or no answer in time, is retried."
                    }
                },
            }
        }
    return section
