"""Writing the audit log. Every service that changes something a person may ask about calls this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.accounts.models import ApiToken, User
from portal.audit.models import AuditEvent
from portal.db import db


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


def record(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | str | None = None,
    *,
    client_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
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
