"""``/integrations/{source}/mappings``: which of an integration's organisation or site ids stands
for which client, and the ids it sent that no mapping names yet.

Reseller tokens read every integration's mappings and (reseller_admin) change them; an integration
token reads its own integration's only (another's is "not found").
"""

from __future__ import annotations

from typing import Any

from portal.accounts.integration_services import (
    get_integration_by_source,
    map_source,
    source_mappings,
    unmap_source,
    unmapped_sources,
)
from portal.accounts.models import Integration, Role, SourceMapping
from portal.accounts.services import CLIENT_REF_PATTERN, get_client_by_ref
from portal.api.auth import RESELLER_READERS, RESELLER_WRITERS, api_actor, current_token
from portal.api.bodies import CLIENT_REF, Body, Text
from portal.api.endpoints import endpoint
from portal.api.errors import ApiError
from portal.api.openapi import add_schema
from portal.api.representations import object_schema
from portal.errors import NotFound

MAPPING_SCHEMA = object_schema(
    {
        "external_org": {"type": "string", "description": "The tool's organisation or site id."},
        "client": {"type": "string", "description": "The client's reference."},
    }
)
add_schema("SourceMapping", MAPPING_SCHEMA)
add_schema(
    "SourceMappings",
    object_schema(
        {
            "source": {"type": "string"},
            "mappings": {"type": "array", "items": {"$ref": "#/components/schemas/SourceMapping"}},
            "unmapped": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Organisation ids the integration sent that no mapping names (newest first).",
            },
        }
    ),
)

NEW_MAPPING = Body(
    {
        "client": Text(
            description="The client the organisation stands for.",
            required=True,
            max_length=32,
            pattern=CLIENT_REF,
            problem="Use 3 to 32 lowercase letters, digits or hyphens.",
        )
    }
)


def _visible_integration(source: str) -> Integration:
    integration = get_integration_by_source(source)
    token = current_token()
    if token.role is Role.INTEGRATION and token.integration_id != integration.id:
        raise NotFound(f"No integration with the source “{source[:64]}”.")
    return integration


def _mapping_json(mapping: SourceMapping) -> dict[str, Any]:
    return {"external_org": mapping.external_org, "client": mapping.client.ref}


@endpoint(
    "GET",
    "/integrations/{source}/mappings",
    summary="An integration's organisation ids and the clients they stand for",
    tag="integrations",
    roles=(*RESELLER_READERS, Role.INTEGRATION),
    ok_schema="SourceMappings",
)
def list_source_mappings(source: str) -> dict[str, Any]:
    integration = _visible_integration(source)
    return {
        "source": integration.source,
        "mappings": [_mapping_json(mapping) for mapping in source_mappings(integration)],
        "unmapped": [row.external_org for row in unmapped_sources(integration)],
    }


@endpoint(
    "PUT",
    "/integrations/{source}/mappings/{external_org}",
    summary="Map an organisation id to a client (or move it to another)",
    tag="integrations",
    roles=RESELLER_WRITERS,
    body=NEW_MAPPING,
    ok_schema="SourceMapping",
)
def put_source_mapping(source: str, external_org: str, body: dict[str, Any]) -> dict[str, Any]:
    integration = _visible_integration(source)
    if not CLIENT_REF_PATTERN.fullmatch(body["client"]):
        raise ApiError(422, "invalid", "No client with this reference.", {"client": "Unknown client."})
    try:
        client = get_client_by_ref(body["client"])
    except NotFound:
        raise ApiError(
            422, "invalid", "No client with this reference.", {"client": "Unknown client."}
        ) from None
    return _mapping_json(map_source(api_actor(), integration, external_org, client))


@endpoint(
    "DELETE",
    "/integrations/{source}/mappings/{external_org}",
    summary="Forget an organisation id's mapping",
    description="Usage already accepted stays with its client; new usage for the id is refused until it "
    "is mapped again.",
    tag="integrations",
    roles=RESELLER_WRITERS,
    ok_status=204,
)
def delete_source_mapping(source: str, external_org: str) -> None:
    unmap_source(api_actor(), _visible_integration(source), external_org)
