"""``/usage-events``: licence starts/stops and metered usage from an RMM, a PSA or an import, and
reading back what was accepted.

A reseller_admin token names clients by reference. An integration token names its own organisation
ids (``external_org``), or clients mapped to its integration, and reads back only its own events.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from metering import (
    MAX_PAGE,
    MAX_USAGE_BATCH,
    Sender,
    UnmappedSources,
    UsageFilter,
    ingest_usage_events,
    parse_timestamp,
    usage_event_page,
)
from portal.accounts.integration_services import note_unmapped_sources
from portal.accounts.models import Role
from portal.api.auth import RESELLER_READERS, RESELLER_WRITERS, api_actor, current_token
from portal.api.bodies import CLIENT_REF, Body, Field, Integer, Query, Text, _WrongType
from portal.api.endpoints import endpoint
from portal.api.errors import ApiError
from portal.api.openapi import add_schema
from portal.api.representations import object_schema
from portal.db import db

USAGE_SENDERS = (*RESELLER_WRITERS, Role.INTEGRATION)
USAGE_READERS = (*RESELLER_READERS, Role.INTEGRATION)

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "product", "action", "at"],
    "properties": {
        "id": {
            "type": "string",
            "description": "The sender's id; an id this sender sent before is a duplicate.",
        },
        "client": {
            "type": "string",
            "description": "The client's reference. An integration token may name only clients mapped to it.",
        },
        "external_org": {
            "type": "string",
            "description": "Integration tokens: the tool's organisation or site id, instead of `client`; "
            "an unmapped one is a 422 naming it.",
        },
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


@contextmanager
def noting_unmapped_sources() -> Iterator[None]:
    """Let an :class:`UnmappedSources` refusal through, after keeping the ids it names.

    The request's own changes are rolled back; the ids go to the console's "unmapped" list in a
    unit of work of their own, so the reseller can map them before the tool sends again.
    """
    try:
        yield
    except UnmappedSources as error:
        db.session.rollback()
        note_unmapped_sources(error.integration_id, error.external_orgs)
        db.session.commit()
        raise


@endpoint(
    "POST",
    "/usage-events",
    summary="Report licence starts/stops and metered usage",
    description="Events may arrive in any order. Event ids are unique per sender: an integration's "
    "`e-1` and the reseller's `e-1` are two events. If any event is invalid (unknown client or product, "
    "an organisation id not mapped to a client, bad action, a timestamp without offset, a stop with no "
    "earlier start for that client, user and product, counting this batch and what is stored), the "
    "answer is 422 with one error per bad event under `fields` (`events[i]`) and nothing is applied.",
    tag="usage",
    roles=USAGE_SENDERS,
    body=USAGE_BATCH,
    ok_status=202,
    ok_schema="UsageAccepted",
    ok_description="The batch was applied.",
)
def post_usage_events(body: dict[str, Any]) -> dict[str, Any]:
    with noting_unmapped_sources():
        result = ingest_usage_events(api_actor(), body["events"], sender=Sender.of_token(current_token()))
    return {"accepted": result.accepted, "duplicates": result.duplicates}


def _timestamp_field(description: str) -> Text:
    return Text(description=description, max_length=40)


READ_BACK = Query(
    {
        "client": Text(
            description="Only this client's.",
            max_length=32,
            pattern=CLIENT_REF,
            problem="Use 3 to 32 lowercase letters, digits or hyphens.",
        ),
        "product": Text(description="Only this product's (a product code).", max_length=32),
        "since": _timestamp_field("Only from this moment on (inclusive), ISO 8601 with offset."),
        "until": _timestamp_field("Only before this moment (exclusive), ISO 8601 with offset."),
        "after": Integer(
            description="Keyset cursor: the `next_after` of the previous page; leave out for the first page.",
            minimum=0,
        ),
        "limit": Integer(
            description=f"Rows per page, 1 to {MAX_PAGE} (100 when left out).", maximum=MAX_PAGE
        ),
    }
)


def usage_filter(query: dict[str, Any]) -> UsageFilter:
    """The checked query as a filter; a timestamp that does not parse is a 422 naming it."""
    bounds = {}
    for name in ("since", "until"):
        if name in query:
            at, problem = parse_timestamp(query[name])
            if problem or at is None:
                message = (problem or "").replace("“at”", f"“{name}”")
                raise ApiError(422, "invalid", message, {name: message})
            bounds[name] = at
    return UsageFilter(
        client=query.get("client"),
        product=query.get("product"),
        since=bounds.get("since"),
        until=bounds.get("until"),
        after=query.get("after", 0),
        limit=query.get("limit", 100),
    )


def page_schema(items_name: str, item_schema: dict[str, Any]) -> dict[str, Any]:
    return object_schema(
        {
            items_name: {"type": "array", "items": item_schema},
            "next_after": {
                "type": ["integer", "null"],
                "description": "Pass as `after` for the next page; null on the last page.",
            },
        }
    )


_NULLABLE_STRING = {"type": ["string", "null"]}
add_schema(
    "UsageEventPage",
    page_schema(
        "events",
        object_schema(
            {
                "sequence": {"type": "integer", "description": "Order of arrival; the keyset cursor."},
                "id": {"type": "string", "description": "The sender's event id."},
                "sender": {"type": "string", "description": "`reseller` or `integration:<n>`."},
                "client": {"type": "string"},
                "product": {"type": "string"},
                "user": _NULLABLE_STRING,
                "action": {"type": "string", "enum": ["start", "stop", "usage"]},
                "at": {"type": "string", "format": "date-time"},
                "quantity": {"type": ["integer", "null"]},
                "received_at": {"type": "string", "format": "date-time"},
            }
        ),
    ),
)


def token_sender() -> str | None:
    """An integration reads back only its own submissions; reseller tokens read everyone's."""
    token = current_token()
    return Sender.of_token(token).key if token.role is Role.INTEGRATION else None


@endpoint(
    "GET",
    "/usage-events",
    summary="Read back accepted usage events",
    description="Filtered by client, product and event time (`since` inclusive, `until` exclusive), "
    "in order of arrival, one page at a time: pass the answer's `next_after` as `after` for the next "
    "page. An integration token sees only the events it sent.",
    tag="usage",
    roles=USAGE_READERS,
    query=READ_BACK,
    ok_schema="UsageEventPage",
)
def list_usage_events(query: dict[str, Any]) -> dict[str, Any]:
    page = usage_event_page(token_sender(), usage_filter(query))
    return {"events": page.items, "next_after": page.next_after}
