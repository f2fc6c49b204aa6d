"""Writing the audit log. Every service that changes something a person may ask about calls this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request

from portal.accounts.models import ApiToken, User
from portal.audit.models import AuditEvent
from portal.db import db

# Signing in and out (an API token's first call from an address included): on the audit log page,
# but kept off the dashboards' "recent activity", where every login would push the changes people
# look for out of view.
SIGN_IN_ACTIONS = (
    "user.logged_in",
    "user.logged_out",
    "user.login_failed",
    "user.locked_out",
    "api_token.new_address",
)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a logged-in user, an API token, or the system/command line."""

    label: str
    user_id: int | None = None
    token_id: int | None = None

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls(label=user.email, user_id=user.id)

    @classmethod
    def for_token(cls, token: ApiToken) -> Actor:
        return cls(label=f"API token “{token.name}” ({token.token_prefix}…)", token_id=token.id)

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(label=label)


def _request_source() -> tuple[str | None, str | None]:
    """The address and User-Agent of the request being served, if any (never its body or URL)."""
    if not has_request_context():
        return None, None
    agent = request.headers.get("User-Agent")
    return request.remote_addr, agent[:512] if agent else None


def record(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | str | None = None,
    *,
    client_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    source_address, user_agent = _request_source()
    event = AuditEvent(
        source_address=source_address,
        user_agent=user_agent,
        actor=actor.label,
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        client_id=client_id,
        details=details or {},
    )
    db.session.add(event)
    db.session.flush()
    return event
