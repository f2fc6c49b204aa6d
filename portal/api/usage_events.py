"""``POST /usage-events``: licence starts/stops and metered usage from an RMM, a PSA or an import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metering import MAX_USAGE_BATCH, ingest_usage_events
from portal.api.auth import RESELLER_WRITERS, api_actor
from portal.api.billing_schemas import object_schema
from portal.api.bodies import Body, Field, _WrongType
from portal.api.endpoints import endpoint
from portal.api.openapi import add_schema

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "client", "product", "action", "at"],
    "properties": {
        "id": {"type": "string", "description": "The sender's id; an id seen before is a duplicate."},
        "client": {"type": "string", "description": "The client's reference."},
        "user": {"type": "string", "description": "E-mail / UPN; required for start and stop."},
        "product": {"type": "string", "description": "A product code, e.g. desktop or voip-minutes."},
        "action": {"type": "string", "enum": ["start", "stop", "usage"]},
        "at": {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with its UTC offset (Z or +hh:mm); a time without one is refused.",
        },
        "quantity": {"type": "integer", "minimum": 1, "description": "Units used; only for usage."},
    },
}


@dataclass(frozen=True, kw_only=True)
class EventList(Field):
    """The events, checked one by one by the service so that each bad one gets its own error."""

    def json_type(self) -> str:
        return "array"

    def base_schema(self) -> dict[str, Any]:
        return {"items": EVENT_SCHEMA, "maxItems": MAX_USAGE_BATCH}

    def check_value(self, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _WrongType("Must be a list of events.")
        return value


USAGE_BATCH = Body(
    {"events": EventList(description="The batch: all applied, or none.", required=True)},
    description="A batch of usage events, applied atomically.",
)

add_schema(
    "UsageAccepted",
    object_schema(
        {
            "accepted": {"type": "integer", "minimum": 0, "description": "Events applied."},
            "duplicates": {
                "type": "integer",
                "minimum": 0,
                "description": "Events whose id was seen before.",
            },
        }
    ),
)


@endpoint(
    "POST",
    "/usage-events",
    summary="Report licence starts/stops and metered usage",
    description="Events may arrive in any order. If any event is invalid (unknown client or product, "
    "bad action, a timestamp without offset, a stop with no earlier start for that client, user and "
    "product, counting this batch and what is stored), the answer is 422 with one error per bad event "
    "under `fields` (`events[i]`) and nothing is applied.",
    tag="usage",
    roles=RESELLER_WRITERS,
    body=USAGE_BATCH,
    ok_status=202,
    ok_schema="UsageAccepted",
    ok_description="The batch was applied.",
)
def post_usage_events(body: dict[str, Any]) -> dict[str, Any]:
    result = ingest_usage_events(api_actor(), body["events"])
    return {"accepted": result.accepted, "duplicates": result.duplicates}
