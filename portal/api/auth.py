"""Bearer tokens: who is calling, what their role lets them do, and which client they act for.

A client token acts for its own client only. A reseller token acts for any client and names it,
with ``"client": REF`` in a body or ``?client=REF`` in the query. Another client's objects, and
clients a token cannot see, are "not found", never "forbidden".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from sqlalchemy import select

from portal.accounts.models import ApiToken, Client, Role, User
from portal.accounts.services import CLIENT_REF_PATTERN, get_client_by_ref
from portal.accounts.token_services import authenticate_api_token, note_token_source
from portal.api.errors import ApiError
from portal.audit.services import Actor
from portal.auth.access import Access, Via, declare
from portal.db import db
from portal.errors import NotFound

F = TypeVar("F", bound=Callable[..., Any])

# Who may call what. Reseller staff read everything and change nothing; a client user sees the
# catalog and their own seats only.
EVERYONE = (Role.RESELLER_ADMIN, Role.RESELLER_STAFF, Role.CLIENT_ADMIN, Role.CLIENT_USER)
ACCOUNT_READERS = (Role.RESELLER_ADMIN, Role.RESELLER_STAFF, Role.CLIENT_ADMIN)
RESELLER_READERS = (Role.RESELLER_ADMIN, Role.RESELLER_STAFF)
WRITERS = (Role.RESELLER_ADMIN, Role.CLIENT_ADMIN)
RESELLER_WRITERS = (Role.RESELLER_ADMIN,)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="seatmeter"'}


def _bearer_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _forbidden_message(role: Role, allowed: tuple[Role, ...]) -> str:
    if role is Role.RESELLER_STAFF:
        return "A reseller_staff token can read but not change anything."
    if role is Role.CLIENT_USER:
        return "A client_user token can read the catalog and its own seats, nothing else."
    if Role.RESELLER_ADMIN in allowed and len(allowed) == 1:
        return "Only a reseller_admin token can do this."
    return f"A {role.value} token cannot do this."


def token_required(*roles: Role) -> Callable[[F], F]:
    """Declare that the view needs a valid Bearer token (401) with one of ``roles`` (403); any
    role when none given. :func:`authorize_token` enforces it before the view runs."""
    allowed = frozenset(roles or EVERYONE)
    access = Access(Via.TOKEN, allowed, allowed)
    return lambda view: declare(view, access)


def authorize_token(allowed: frozenset[Role]) -> None:
    """Authenticate the request's Bearer token and check its role against ``allowed``.

    The token is in ``g.api_token`` for the view. Its last use (and a first use from a new
    address) is committed at once, on its own, so that the view's own unit of work starts clean.
    """
    raw = _bearer_token()
    token = authenticate_api_token(raw) if raw else None
    if token is None:
        message = (
            "This token is not valid or was revoked."
            if raw
            else "Send an API token: `Authorization: Bearer smt_…` "
            "(made with `flask --app wsgi tokens create`)."
        )
        raise ApiError(401, "unauthorized", message, headers=_CHALLENGE)
    note_token_source(token, request.remote_addr)
    db.session.commit()
    g.api_token = token
    if token.role not in allowed:
        raise ApiError(403, "forbidden", _forbidden_message(token.role, tuple(allowed)))


def current_token() -> ApiToken:
    return g.api_token


def api_actor() -> Actor:
    """The calling token, as the actor of the audit log."""
    return Actor.for_token(current_token())


def acting_client(ref: str | None = None) -> Client:
    """The client this request acts for.

    ``ref`` is the body's ``client`` field, if any; otherwise ``?client=`` of the query is used.
    A client token acts for its own client (naming another one is a 404); a reseller token must
    name the client (422 without one, 404 for an unknown one).
    """
    query_ref = request.args.get("client") or None
    if ref is not None and query_ref is not None and ref != query_ref:
        raise ApiError(
            422,
            "invalid",
            "The body and the query name different clients.",
            {"client": "Name the client once, in the body or in the query."},
        )
    ref = ref if ref is not None else query_ref
    token = current_token()
    if token.client is not None:
        if ref is not None and ref.strip().lower() != token.client.ref:
            raise NotFound("No client with this reference.")
        return token.client
    if ref is None:
        raise ApiError(
            422,
            "invalid",
            'A reseller token must say which client it acts for: "client": REF in the body or ?client=REF.',
            {"client": "Required with a reseller token."},
        )
    if not CLIENT_REF_PATTERN.fullmatch(ref.strip().lower()):
        raise NotFound("No client with this reference.")
    return get_client_by_ref(ref)


def token_person_email(token: ApiToken) -> str | None:
    """For a client_user token, the e-mail of the person it belongs to (its creator), if any.

    Their seats are the seats of the client's end user with that e-mail. A client_user token
    created at the command line belongs to nobody and sees no seats.
    """
    if token.role is not Role.CLIENT_USER or token.created_by_id is None:
        return None
    user = db.session.scalars(
        select(User).where(User.id == token.created_by_id, User.client_id == token.client_id)
    ).first()
    return user.email if user is not None else None
