"""API tokens for automation (RMM, PSA, scripts): created once, stored as a hash, revocable."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import ApiToken, ApiTokenSource, Client, Integration, Role, User
from portal.accounts.services import digest_token
from portal.audit.models import AuditEvent
from portal.audit.services import Actor, record
from portal.db import db, utcnow
from portal.errors import InvalidInput, NotFound
from portal.orders.queries import is_possible_id

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
API_TOKEN_PREFIX = "smt_"  # nosec B105  # the public prefix of API tokens, not a secret
# How stale a token's "last used" may be: it is written at most this often.
LAST_USED_PRECISION = timedelta(minutes=1)


def create_api_token(
    actor: Actor,
    name: str,
    role: Role,
    client: Client | None,
    owner: User | None = None,
    *,
    integration: Integration | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; the raw token is returned once and never stored.

    ``owner`` is the portal user the token belongs to; a client_user token sees that person's seats.
    An ``integration`` token belongs to its integration and acts for the clients mapped to it.
    """
    name = name.strip()
    if not name:
        raise InvalidInput("Give the token a name that says what uses it.", fields={"name": "Required."})
    if _CONTROL_CHARACTERS.search(name):
        # A pasted tab or NUL; PostgreSQL cannot store a NUL at all (a 500 before).
        raise InvalidInput(
            "Give the token a name on one line, without control characters.",
            fields={"name": "One line of letters, digits and punctuation."},
        )
    if (role is Role.INTEGRATION) != (integration is not None):
        raise InvalidInput("An integration token, and only one, names the integration it sends for.")
    if role is Role.INTEGRATION:
        if client is not None or owner is not None:
            raise InvalidInput("An integration token acts for its mapped clients; do not give it a client.")
    elif role.is_reseller and client is not None:
        raise InvalidInput("A reseller token acts for every client; do not give it a client.")
    elif not role.is_reseller and client is None:
        raise InvalidInput(f"A {role.value} token needs the client it acts for.")
    if owner is not None and owner.client_id != (client.id if client else None):
        raise InvalidInput(
            f"{owner.email} does not belong to the token's client.", fields={"user": "Wrong client."}
        )
    raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        role=role,
        client=client,
        integration=integration,
        token_hash=digest_token(raw),
        token_prefix=raw[:10],
        created_by_id=owner.id if owner else actor.user_id,
    )
    db.session.add(token)
    db.session.flush()
    record(
        actor,
        "api_token.created",
        "api_token",
        token.id,
        client_id=client.id if client else None,
        details={"name": name, "role": role.value}
        | ({"integration": integration.source} if integration is not None else {}),
    )
    return token, raw


def authenticate_api_token(raw: str) -> ApiToken | None:
    token = db.session.scalars(
        select(ApiToken).where(ApiToken.token_hash == digest_token(raw.strip()))
    ).first()
    if token is None or token.revoked_at is not None:
        return None
    if token.role is Role.CLIENT_USER and token.created_by is not None and not token.created_by.active:
        # A client_user token acts as its person: a disabled person's token stops with them, and
        # works again if they are enabled (removing them revokes it for good).
        return None
    now = utcnow()
    # Every API request would otherwise write (and commit) this row: once a minute is precise enough
    # for "last used" and keeps busy tokens from serialising on one row.
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        token.last_used_at = now
        db.session.flush()
    return token


def note_token_source(token: ApiToken, address: str | None) -> None:
    """Record in the audit log the first use of ``token`` from ``address`` (once per address).

    The event carries the request's address and User-Agent, like every audit event.
    """
    if not address:
        return
    address = address[:45]
    if db.session.get(ApiTokenSource, (token.id, address)) is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(ApiTokenSource(token_id=token.id, address=address))
    except IntegrityError:
        # A concurrent request from the same address recorded it first.
        return
    record(
        Actor.for_token(token),
        "api_token.new_address",
        "api_token",
        token.id,
        client_id=token.client_id,
        details={"address": address},
    )


def revoke_api_token(actor: Actor, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
        record(
            actor,
            "api_token.revoked",
            "api_token",
            token.id,
            client_id=token.client_id,
            details={
                "summary": f"{actor.label} revoked the API token “{token.name}” ({token.token_prefix}…).",
                "name": token.name,
            },
        )


def tokens_of(client: Client | None) -> list[ApiToken]:
    """The tokens a console lists: a client's own, or (``None``) every token of the installation."""
    query = select(ApiToken).order_by(
        ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id
    )
    if client is not None:
        query = query.where(ApiToken.client_id == client.id)
    return list(db.session.scalars(query))


def created_by_labels(tokens: list[ApiToken]) -> dict[int, str]:
    """Who created each token, in words: the person's name, or the audit log's actor for tokens made
    at the command line or by someone since removed (their row is gone, the audit entry stays)."""
    labels = {token.id: token.created_by.name for token in tokens if token.created_by is not None}
    missing = [str(token.id) for token in tokens if token.id not in labels]
    if missing:
        events = db.session.execute(
            select(AuditEvent.object_id, AuditEvent.actor).where(
                AuditEvent.action == "api_token.created",
                AuditEvent.object_type == "api_token",
                AuditEvent.object_id.in_(missing),
            )
        )
        labels |= {int(object_id): actor for object_id, actor in events if object_id is not None}
    return labels


def token_of(client: Client | None, token_id: int) -> ApiToken:
    """One token of this client (``None``: any token); another client's is not found."""
    token = db.session.get(ApiToken, token_id) if is_possible_id(token_id) else None
    if token is None or (client is not None and token.client_id != client.id):
        raise NotFound("There is no such token.")
    return token


def token_scope(token: ApiToken) -> str:
    """What a token acts for, in words."""
    if token.integration is not None:
        return f"usage of the clients mapped to {token.integration.name}"
    if token.client is None:
        return "every client"
    if token.role is Role.CLIENT_USER:
        owner = token.created_by
        return f"{token.client.name}: the seats of {owner.name if owner else 'nobody'}"
    return f"all of {token.client.name}"
