"""OpenAPI shapes of the billing API: invoices, month close and finalize results, the SPLA report."""

from __future__ import annotations

from typing import Any

from metering import PLAIN_STATES, InvoiceStatus
from portal.api.openapi import add_schema, ref
from portal.api.representations import NEXT_LINK, object_schema

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
PERIOD = {"type": "string", "pattern": PERIOD_PATTERN, "description": "A calendar month, YYYY-MM."}


def period_parameter(required: bool, description: str) -> dict[str, Any]:
    return {
        "name": "period",
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string", "pattern": PERIOD_PATTERN},
    }


add_schema(
    "InvoiceLine",
    object_schema(
        {
            "product": {"type": "string", "description": "The product's code."},
            "period": {
                **PERIOD,
                "description": "The month this line bills (an adjustment bills an earlier one).",
            },
            "quantity": {"type": "integer", "description": "Users or units; negative on a credit."},
            "unit_amount_minor": {"type": "integer", "description": "Price of one, in minor units."},
            "amount_minor": {
                "type": "integer",
                "description": "quantity x unit_amount_minor; the tax is in it when the rate is inclusive.",
            },
            "tax_minor": {"type": "integer", "description": "The line's tax, rounded on the line."},
        }
    ),
)
add_schema(
    "Invoice",
    object_schema(
        {
            "id": {"type": "integer"},
            "client": {"type": "string", "description": "The client's reference."},
            "period": PERIOD,
            "status": {
                "type": "string",
                "enum": [status.value for status in InvoiceStatus],
                "description": "The stored state; `finalized` is an issued invoice not paid yet.",
            },
            "state": {
                "type": "string",
                "enum": list(PLAIN_STATES),
                "description": "The state as the client reads it: an issued invoice is `due` until its "
                "due date has passed, then `overdue`.",
            },
            "currency": {"type": "string", "description": "ISO 4217, e.g. USD."},
            "subtotal_minor": {
                "type": "integer",
                "description": "Sum of the lines' amounts (an inclusive tax is in them), in minor units.",
            },
            "tax_minor": {"type": "integer", "description": "Every tax of the lines, included or added."},
            "total_minor": {
                "type": "integer",
                "description": "What the client owes: subtotal plus the taxes not already included.",
            },
            "balance_minor": {
                "type": "integer",
                "minimum": 0,
                "description": "Still owed: total less credit notes, credit used and payments (0 when void).",
            },
            "due_on": {
                "type": ["string", "null"],
                "format": "date",
                "description": "Payment due date (billing time zone); null on a draft.",
            },
            "lines": {"type": "array", "items": ref("InvoiceLine")},
        }
    ),
)
add_schema(
    "InvoiceList",
    object_schema(
        {"invoices": {"type": "array", "items": ref("Invoice")}, "next": NEXT_LINK},
        "One page of invoices, newest month first (see `limit` and `cursor`).",
    ),
)
add_schema(
    "MonthClosed",
    object_schema(
        {
            "period": PERIOD,
            "clients": {"type": "integer", "minimum": 0, "description": "Clients visited."},
            "outcomes": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "How many drafts were created, rebuilt, unchanged or removed.",
            },
            "failed": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Clients whose draft could not be built, and why; run the close again.",
            },
        }
    ),
)
add_schema(
    "MonthFinalized",
    object_schema(
        {
            "period": PERIOD,
            "finalized": {"type": "integer", "minimum": 0, "description": "Invoices finalized."},
        }
    ),
)
add_schema(
    "SplaLine",
    object_schema(
        {
            "client": {
                "type": ["string", "null"],
                "description": "The client's reference; null for the reseller's shared per-core hosts.",
            },
            "sku": {"type": "string"},
            "quantity": {"type": "integer", "minimum": 1},
        }
    ),
)
add_schema(
    "SplaReport",
    object_schema({"period": PERIOD, "lines": {"type": "array", "items": ref("SplaLine")}}),
)
