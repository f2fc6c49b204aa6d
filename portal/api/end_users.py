"""``/end-users``: the people at a client whom seats are assigned to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.accounts.end_user_services import (
    add_end_user,
    end_user_field_problems,
    remove_end_user,
    update_end_user,
)
from portal.accounts.models import EndUser
from portal.api.auth import ACCOUNT_READERS, WRITERS, acting_client, api_actor
from portal.api.bodies import Body, Text, client_field
from portal.api.endpoints import endpoint
from portal.api.errors import ApiError
from portal.api.paging import document_list, list_query, next_link, searched_page
from portal.api.representations import end_user_json
from portal.listing import SortKey
from portal.orders.services import get_end_user_for_client


def _name(required: bool) -> Text:
    return Text(description="The person's name.", required=required, max_length=200)


def _email(required: bool) -> Text:
    return Text(
        description="Their e-mail address or user principal name (alice@corp.local); unique per client.",
        required=required,
        max_length=254,
        pattern=r"[^@\s]+@[^@\s]+",
        problem="Write it as name@domain, e.g. alice@acme.com or alice@corp.local.",
    )


EXTENSION = Text(
    description="Phone extension for VoIP seats: 2 to 8 digits; unique per client. null for none.",
    nullable=True,
    max_length=8,
    pattern=r"[0-9]{2,8}",
    problem="Use 2 to 8 digits.",
)
NEW_END_USER = Body(
    {"client": client_field(), "name": _name(True), "email": _email(True), "extension": EXTENSION}
)
END_USER_CHANGES = Body(
    {"client": client_field(), "name": _name(False), "email": _email(False), "extension": EXTENSION},
    "Only the fields given change.",
)
_SEATS_CONFLICT = (
    "The e-mail or extension is taken by another end user, or is being changed while the person holds seats."
)


def _check(name: str, email: str, extension: str | None, message: str) -> None:
    problems = end_user_field_problems(name, email, extension)
    if problems:
        raise ApiError(422, "invalid", message, problems)


END_USER_PAGE = list_query("end users", search="name or e-mail", updated_since=True)
END_USER_KEYS = (SortKey(EndUser.name), SortKey(EndUser.id))


@endpoint(
    "GET",
    "/end-users",
    summary="The client's end users",
    tag="end users",
    roles=ACCOUNT_READERS,
    client_scoped=True,
    ok_schema="EndUserList",
    query=END_USER_PAGE,
)
def list_end_users(query: dict[str, Any]) -> dict[str, Any]:
    client = acting_client()
    page = searched_page(
        select(EndUser).where(EndUser.client_id == client.id),
        query,
        search_text=EndUser.search_text,
        updated_at=EndUser.updated_at,
        keys=END_USER_KEYS,
        key_of=lambda end_user: (end_user.name, end_user.id),
        list_name="api.end_users",
    )
    return {"end_users": [end_user_json(end_user) for end_user in page.rows], "next": next_link(page)}


document_list("/end-users")


@endpoint(
    "POST",
    "/end-users",
    summary="Add an end user",
    tag="end users",
    roles=WRITERS,
    client_scoped=True,
    body=NEW_END_USER,
    ok_status=201,
    ok_schema="EndUser",
    ok_description="The new end user.",
    conflict="Another end user of the client has this e-mail or extension.",
)
def create_end_user(body: dict[str, Any]) -> dict[str, Any]:
    client = acting_client(body.get("client"))
    _check(body["name"], body["email"], body.get("extension"), "The end user could not be added.")
    end_user = add_end_user(api_actor(), client, body["name"], body["email"], body.get("extension"))
    return end_user_json(end_user)


@endpoint(
    "GET",
    "/end-users/{end_user_id}",
    summary="One end user",
    tag="end users",
    roles=ACCOUNT_READERS,
    client_scoped=True,
    ok_schema="EndUser",
)
def get_end_user(end_user_id: int) -> dict[str, Any]:
    return end_user_json(get_end_user_for_client(acting_client(), end_user_id))


@endpoint(
    "PATCH",
    "/end-users/{end_user_id}",
    summary="Change an end user's name, e-mail or extension",
    description="The e-mail and the extension are how the platforms know the person, so they can only "
    "change while the person holds no seat (unassign or cancel the seats first).",
    tag="end users",
    roles=WRITERS,
    client_scoped=True,
    body=END_USER_CHANGES,
    ok_schema="EndUser",
    ok_description="The end user as saved.",
    conflict=_SEATS_CONFLICT,
)
def change_end_user(end_user_id: int, body: dict[str, Any]) -> dict[str, Any]:
    end_user = get_end_user_for_client(acting_client(body.get("client")), end_user_id)
    name = body.get("name", end_user.name)
    email = body.get("email", end_user.email)
    extension = body.get("extension", end_user.extension)
    _check(name, email, extension, "The end user could not be saved.")
    update_end_user(api_actor(), end_user, name=name, email=email, extension=extension)
    return end_user_json(end_user)


@endpoint(
    "DELETE",
    "/end-users/{end_user_id}",
    summary="Remove an end user who holds no seat",
    description="Refused (409) while the person holds seats: unassign or cancel them first.",
    tag="end users",
    roles=WRITERS,
    client_scoped=True,
    ok_status=204,
    ok_description="Removed.",
    conflict="The person still holds seats, or cancelled seats of theirs are still terminating.",
)
def delete_end_user(end_user_id: int) -> None:
    end_user = get_end_user_for_client(acting_client(), end_user_id)
    remove_end_user(api_actor(), end_user)
