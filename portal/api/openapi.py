"""The OpenAPI 3.1 document of the API, served at ``/api/v1/openapi.json``.

Resource modules add their operations through :func:`portal.api.endpoints.endpoint`, which wires
the route and documents it from the same arguments (roles, body, statuses), and their response
shapes with :func:`add_schema`. Lower-level code can call :func:`add_operation` directly.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Response, jsonify

from portal.api import bp
from portal.api.bodies import CLIENT_REF, MAX_ID, Body, Query
from portal.api.idempotency import HEADER, KEY_PATTERN, REPLAYED_HEADER
from portal.auth.access import public
from portal.webhooks_out.schema import webhooks_section

PREFIX = "/api/v1"
JSON = "application/json"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable, for programs: bad_request, unauthorized, forbidden, not_found, "
                    "method_not_allowed, conflict, idempotency_key_reused, invalid.",
                },
                "message": {"type": "string", "description": "For people: what went wrong and what to do."},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "The problem with each body field (or header) that caused the error.",
                },
            },
        }
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Seatmeter API",
        "version": "1",
        "description": (
            "Order, assign and cancel seats, and manage end users, for one client (client token) or "
            "any client (reseller token, naming the client with `client`). Errors are JSON "
            '`{"error": {"code", "message", "fields"?}}`. Every POST accepts an `Idempotency-Key`.'
        ),
    },
    "security": [{"bearerAuth": []}],
    "paths": {},
    # What Seatmeter POSTs to the reseller's webhook endpoints (docs/webhooks.md).
    "webhooks": webhooks_section(),
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from `flask --app wsgi tokens create` (starts with smt_).",
            }
        },
        "parameters": {
            "Client": {
                "name": "client",
                "in": "query",
                "required": False,
                "description": "The client's reference. Required with a reseller token; a client token "
                "may leave it out or name its own client. An unknown client is a 404.",
                "schema": {"type": "string", "minLength": 3, "maxLength": 32, "pattern": f"^{CLIENT_REF}$"},
            },
            "IdempotencyKey": {
                "name": HEADER,
                "in": "header",
                "required": False,
                "description": "Any unique string (e.g. a UUID). Sending the same request again with the "
                "same key answers the first response and does nothing; the same key with a different "
                "request is a 409. Keys belong to the token.",
                "schema": {"type": "string", "pattern": f"^{KEY_PATTERN}$"},
            },
        },
        "headers": {
            "Replayed": {
                "description": "`true` when the response is the stored answer to an earlier request "
                "with the same Idempotency-Key.",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
        "schemas": {"Error": ERROR_SCHEMA},
    },
}

_ERROR_DESCRIPTIONS = {
    400: "The body is not JSON, not an object, has unknown fields or fields of the wrong type, or "
    "the Idempotency-Key header is malformed.",
    401: "No token, or a token that is not valid or was revoked.",
    403: "The token's role may not do this.",
    404: "Not found, or not this client's (a client token never sees another client's objects).",
    409: "Conflicts with the current state.",
    422: "A field is missing or not valid; `fields` says which.",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def add_schema(name: str, schema: dict[str, Any]) -> dict[str, str]:
    """Add a named schema to the document's components; returns a ``$ref`` to it."""
    schemas = DOCUMENT["components"]["schemas"]
    if name in schemas and schemas[name] != schema:
        raise ValueError(f"two different OpenAPI schemas are both called {name}")
    schemas[name] = schema
    return ref(name)


def add_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    """Document ``method`` on ``path`` (without the /api/v1 prefix, e.g. ``/seats/{seat_id}``)."""
    operations = DOCUMENT["paths"].setdefault(PREFIX + path, {})
    if method.lower() in operations:
        raise ValueError(f"{method.upper()} {path} is documented twice")
    operations[method.lower()] = operation


def error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


def path_parameter(name: str) -> dict[str, Any]:
    """``*_id`` path parameters are database ids; any other is a string."""
    schema: dict[str, Any] = (
        {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        if name.endswith("_id")
        else {"type": "string", "minLength": 1, "maxLength": 64}
    )
    return {"name": name, "in": "path", "required": True, "schema": schema}


def build_operation(
    *,
    operation_id: str,
    method: str,
    path_params: list[str],
    summary: str,
    description: str,
    tag: str,
    roles: tuple[str, ...],
    all_roles: bool,
    ok_status: int,
    ok_schema: str | None,
    ok_description: str,
    body: Body | None,
    client_scoped: bool,
    ok_media_type: str = JSON,
    query: Query | None = None,
    idempotent: bool,
    conflict: str | None,
) -> dict[str, Any]:
    """One operation, with exactly the statuses the API can answer for it."""
    parameters: list[dict[str, Any]] = [path_parameter(name) for name in path_params]
    if query is not None:
        parameters.extend(query.parameters())
    if client_scoped:
        parameters.append({"$ref": "#/components/parameters/Client"})
    if idempotent:
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})

    ok: dict[str, Any] = {"description": ok_description}
    if ok_media_type != JSON:
        ok["content"] = {ok_media_type: {"schema": {"type": "string"}}}
    elif ok_schema is not None:
        ok["content"] = {JSON: {"schema": ref(ok_schema)}}
    if idempotent:
        ok["headers"] = {REPLAYED_HEADER: {"$ref": "#/components/headers/Replayed"}}
    responses: dict[str, Any] = {str(ok_status): ok}
    errors = {401: _ERROR_DESCRIPTIONS[401]}
    if body is not None or idempotent:
        errors[400] = _ERROR_DESCRIPTIONS[400]
    if not all_roles:
        errors[403] = _ERROR_DESCRIPTIONS[403]
    if path_params or client_scoped:
        errors[404] = _ERROR_DESCRIPTIONS[404]
    if method != "GET":
        reasons = [conflict] if conflict else []
        if idempotent:
            reasons.append("The Idempotency-Key was used for a different request.")
        reasons.append("A concurrent request changed the same thing (try again).")
        errors[409] = " ".join(reasons)
    if body is not None or query is not None or client_scoped:
        errors[422] = _ERROR_DESCRIPTIONS[422]
    for status in sorted(errors):
        responses[str(status)] = error_response(errors[status])

    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "description": (description + "\n\n" if description else "") + "Roles: " + ", ".join(roles) + ".",
        "tags": [tag],
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {
            "required": body.required,
            "content": {JSON: {"schema": body.schema()}},
        }
    return operation


@bp.get("/openapi.json")
@public
def openapi_document() -> Response:
    """The document itself needs no token: it describes the API, nothing of anyone's data."""
    return jsonify(copy.deepcopy(DOCUMENT))
