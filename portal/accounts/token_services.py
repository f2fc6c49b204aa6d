"""API tokens for automation (RMM, PSA, scripts): created once, stored as a hash, revocable."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import ApiToken, ApiTokenSource, Client, Integration, Role, User
from portal.accounts.services import digest_token
from portal.audit.services import Actor, record
from portal.db import db, utcnow
from portal.errors import InvalidInput

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
        record(actor, "api_token.revoked", "api_token", token.id, client_id=token.client_id)
