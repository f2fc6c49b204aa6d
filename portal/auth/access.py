"""Who may see what: role checks for views and the current client of a client user."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required

from portal.accounts.models import Client, Role, User

F = TypeVar("F", bound=Callable[..., Any])

RESELLER_ROLES = (Role.RESELLER_ADMIN, Role.RESELLER_STAFF)
CLIENT_ROLES = (Role.CLIENT_ADMIN, Role.CLIENT_USER)


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Log-in required, and the user must have one of ``roles`` (403 otherwise)."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def current_portal_user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def current_client() -> Client:
    """The client a client-side user belongs to; every client-facing query is scoped by it."""
    user = current_portal_user()
    if user.client is None:
        abort(404)
    return user.client
