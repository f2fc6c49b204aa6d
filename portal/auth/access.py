"""Who may see what: role checks for views and the current client of a client user."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, request
from flask_login import current_user, login_required

from portal.accounts.models import Client, Role, User

F = TypeVar("F", bound=Callable[..., Any])

RESELLER_ROLES = (Role.RESELLER_ADMIN, Role.RESELLER_STAFF)
CLIENT_ROLES = (Role.CLIENT_ADMIN, Role.CLIENT_USER)


# Methods that only read; every other method changes something.
_READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def roles_required(*roles: Role, to_change: tuple[Role, ...] | None = None) -> Callable[[F], F]:
    """Log-in required, and the user must have one of ``roles`` (403 otherwise).

    ``to_change`` narrows who may send a POST (or any method that is not a read) to a route that
    also serves a page with GET, so the page and the form it posts share one declaration.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            allowed = roles
            if to_change is not None and request.method not in _READING_METHODS:
                allowed = to_change
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def current_portal_user() -> User:
    return current_user._get_current_object()


def current_client() -> Client:
    """The client a client-side user belongs to; every client-facing query is scoped by it."""
    user = current_portal_user()
    if user.client is None:
        abort(404)
    return user.client
