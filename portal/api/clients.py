"""``/clients``: the reseller's clients (reseller tokens only)."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from portal.accounts.models import Client
from portal.accounts.services import create_client
from portal.api.auth import RESELLER_READERS, RESELLER_WRITERS, api_actor
from portal.api.bodies import CLIENT_REF, Body, Text
from portal.api.endpoints import endpoint
from portal.api.errors import ApiError
from portal.api.paging import document_list, list_query, next_link, searched_page
from portal.api.representations import client_json
from portal.listing import SortKey

NEW_CLIENT = Body(
    {
        "ref": Text(
            description="A short reference, 3 to 32 lowercase letters, digits or hyphens, e.g. acme.",
            required=True,
            max_length=32,
            pattern=CLIENT_REF,
            problem="Use 3 to 32 lowercase letters, digits or hyphens, e.g. acme.",
        ),
        "name": Text(description="The client's name, e.g. Acme Law LLP.", required=True, max_length=200),
        "billing_email": Text(
            description="Where invoices go.",
            nullable=True,
            max_length=254,
            pattern=r"[^@\s]+@[^@\s]+",
            problem="Not a valid e-mail address.",
        ),
    }
)

CLIENT_PAGE = list_query("clients", search="name or reference", updated_since=True)
# By reference, which is unique, as the list always was.
CLIENT_KEYS = (SortKey(Client.ref),)


@endpoint(
    "GET",
    "/clients",
    summary="The reseller's clients",
    tag="clients",
    roles=RESELLER_READERS,
    ok_schema="ClientList",
    query=CLIENT_PAGE,
)
def list_clients(query: dict[str, Any]) -> dict[str, Any]:
    page = searched_page(
        select(Client),
        query,
        search_text=Client.search_text,
        updated_at=Client.updated_at,
        keys=CLIENT_KEYS,
        key_of=lambda client: (client.ref,),
        list_name="api.clients",
    )
    return {"clients": [client_json(client) for client in page.rows], "next": next_link(page)}


document_list("/clients")


@endpoint(
    "POST",
    "/clients",
    summary="Add a client",
    tag="clients",
    roles=RESELLER_WRITERS,
    body=NEW_CLIENT,
    ok_status=201,
    ok_schema="Client",
    ok_description="The new client.",
    conflict="A client with this reference exists.",
)
def add_client(body: dict[str, Any]) -> dict[str, Any]:
    billing_email = body.get("billing_email")
    if billing_email is not None:
        try:
            validate_email(billing_email, check_deliverability=False, globally_deliverable=False)
        except EmailNotValidError as error:
            raise ApiError(
                422, "invalid", "The client could not be created.", {"billing_email": f"Not valid: {error}"}
            ) from None
    client = create_client(api_actor(), body["ref"], body["name"], billing_email)
    return client_json(client)
