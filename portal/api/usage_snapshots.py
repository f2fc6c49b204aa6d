"""``/usage-snapshots``: "as of this moment, these people hold the product" (or "this many devices")
from an RMM, per organisation; and reading them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metering import (
    MAX_SNAPSHOT_USERS,
    Sender,
    SnapshotOutcome,
    put_usage_snapshot,
    snapshot_json,
    usage_snapshot_page,
)
from portal.accounts.models import Role
from portal.api.auth import api_actor, current_token
from portal.api.bodies import Body, Field, Integer, Text, _WrongType
from portal.api.endpoints import endpoint
from portal.api.openapi import add_schema
from portal.api.representations import object_schema
from portal.api.usage_events import (
    READ_BACK,
    USAGE_READERS,
    USAGE_SENDERS,
    noting_unmapped_sources,
    page_schema,
    usage_filter,
)


@dataclass(frozen=True, kw_only=True)
class UserList(Field):
    """The people, checked one by one by the service so that a bad one is named."""

    def json_type(self) -> str:
        return "array"

    def base_schema(self) -> dict[str, Any]:
        return {"items": {"type": "string", "minLength": 1, "maxLength": 254}, "maxItems": MAX_SNAPSHOT_USERS}

    def check_value(self, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _WrongType("Must be a list of e-mail addresses.")
        return value


SNAPSHOT = Body(
    {
        "source": Text(
            description="The integration's source name, e.g. ninjaone (an integration token: its own).",
            required=True,
            max_length=64,
        ),
        "external_org": Text(
            description="The tool's organisation or site id; mapped to a client on the console.",
            required=True,
            max_length=200,
        ),
        "product": Text(
            description="A product code, e.g. desktop or managed-devices.", required=True, max_length=32
        ),
        "as_of": Text(
            description="The moment the tool looked, ISO 8601 with its UTC offset (Z or +hh:mm).",
            required=True,
            max_length=40,
        ),
        "users": UserList(description="Per-user products: everyone who holds it at `as_of`."),
        "quantity": Integer(
            description="Per-device products: how many at `as_of`.", minimum=0, maximum=10**9
        ),
    },
    description="One snapshot. Send `users` for a per-user product, `quantity` for a per-device one.",
)

SNAPSHOT_SCHEMA = object_schema(
    {
        "sequence": {"type": "integer", "description": "Order of arrival; the keyset cursor."},
        "source": {"type": "string"},
        "external_org": {"type": "string"},
        "client": {"type": "string", "description": "The client the organisation is mapped to."},
        "product": {"type": "string"},
        "as_of": {"type": "string", "format": "date-time"},
        "users": {"type": ["array", "null"], "items": {"type": "string"}},
        "quantity": {"type": ["integer", "null"]},
        "received_at": {"type": "string", "format": "date-time"},
    }
)
add_schema("UsageSnapshot", SNAPSHOT_SCHEMA)
add_schema(
    "UsageSnapshotAccepted",
    object_schema(
        {
            "outcome": {
                "type": "string",
                "enum": [outcome.value for outcome in SnapshotOutcome],
                "description": "created; replaced (same key, new content); unchanged (sent before as is).",
            },
            "snapshot": {"$ref": "#/components/schemas/UsageSnapshot"},
        }
    ),
)
add_schema("UsageSnapshotPage", page_schema("snapshots", {"$ref": "#/components/schemas/UsageSnapshot"}))


@endpoint(
    "PUT",
    "/usage-snapshots",
    summary="Report who holds a product (or how many devices) as of a moment",
    description="Idempotent by (source, external_org, product, as_of): the same snapshot again changes "
    "nothing; different content for the same key replaces it. A person in a snapshot holds the product "
    "from its `as_of`; absent from the organisation's next snapshot, they stop at that one's `as_of`. "
    "Snapshots may arrive in any order. Per-device products bill the month's peak (or average, per "
    "product) of their snapshots, never their sum. An `external_org` not mapped to a client is a 422 "
    "naming it.",
    tag="usage",
    roles=USAGE_SENDERS,
    body=SNAPSHOT,
    ok_schema="UsageSnapshotAccepted",
    ok_description="Stored (or already stored as sent).",
)
def put_usage_snapshots(body: dict[str, Any]) -> dict[str, Any]:
    with noting_unmapped_sources():
        result = put_usage_snapshot(api_actor(), Sender.of_token(current_token()), body)
    snapshot = result.snapshot
    return {
        "outcome": result.outcome.value,
        "snapshot": snapshot_json(
            snapshot, snapshot.integration.source, snapshot.client.ref, snapshot.product.code
        ),
    }


@endpoint(
    "GET",
    "/usage-snapshots",
    summary="Read back accepted usage snapshots",
    description="Filtered by client, product and `as_of` (`since` inclusive, `until` exclusive), in "
    "order of arrival, one page at a time: pass the answer's `next_after` as `after` for the next page. "
    "An integration token sees only its integration's snapshots.",
    tag="usage",
    roles=USAGE_READERS,
    query=READ_BACK,
    ok_schema="UsageSnapshotPage",
)
def list_usage_snapshots(query: dict[str, Any]) -> dict[str, Any]:
    token = current_token()
    integration_id = token.integration_id if token.role is Role.INTEGRATION else None
    page = usage_snapshot_page(integration_id, usage_filter(query))
    return {"snapshots": page.items, "next_after": page.next_after}
