"""Who may see what: the role declaration of every route, and the current client of a client user.

Each view declares who may use it, and the declaration is all there is: ``roles_required`` (a
logged-in person with one of the roles), ``public`` (anyone, logged in or not) or, for the JSON API,
``portal.api.auth.token_required`` (a Bearer token with one of the roles). The decorators only
record an :class:`Access` on the view; one check before every request
(:mod:`portal.web.access_check`) enforces it, and tests/portal/web/test_role_walk.py tries every
changing route as every role against it. A route that changes something and declares nothing is
refused to everyone, and that test names it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user

from portal.accounts.models import Client, Role, User

F = TypeVar("F", bound=Callable[..., Any])

RESELLER_ROLES = (Role.RESELLER_ADMIN, Role.RESELLER_STAFF)
CLIENT_ROLES = (Role.CLIENT_ADMIN, Role.CLIENT_USER)
# Every role a person (not a token of an outside tool) can log in with.
PERSON_ROLES = (*RESELLER_ROLES, *CLIENT_ROLES)

# Methods that only read; every other method changes something.
READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_ATTRIBUTE = "seatmeter_access"


class Via(enum.Enum):
    """How a caller proves who they are."""

    ANYONE = "anyone"  # nothing to prove: login, password reset, signed webhooks
    SESSION = "session"  # a logged-in person (cookie)
    TOKEN = "token"  # an API Bearer token  # nosec B105  # a kind of credential, not a secret


@dataclass(frozen=True)
class Access:
    """Who may use one view: ``read`` roles for GET/HEAD, ``change`` roles for every other method."""

    via: Via
    read: frozenset[Role]
    change: frozenset[Role]

    def roles_for(self, method: str) -> frozenset[Role]:
        return self.read if method.upper() in READING_METHODS else self.change


def declare(view: F, access: Access) -> F:
    setattr(view, _ATTRIBUTE, access)
    return view


def access_of(view: Callable[..., Any] | None) -> Access | None:
    """The declaration of ``view``, looking through decorators stacked over the declared function."""
    while view is not None:
        access = getattr(view, _ATTRIBUTE, None)
        if isinstance(access, Access):
            return access
        view = getattr(view, "__wrapped__", None)
    return None


def roles_required(*roles: Role, to_change: tuple[Role, ...] | None = None) -> Callable[[F], F]:
    """A logged-in person with one of ``roles`` (anonymous: the login page; another role: 403).

    ``to_change`` narrows who may send a POST (or any method that is not a read) to a route that
    also serves a page with GET, so the page and the form it posts share one declaration.
    """
    access = Access(Via.SESSION, frozenset(roles), frozenset(roles if to_change is None else to_change))
    return lambda view: declare(view, access)


def signed_in(view: F) -> F:
    """Any logged-in person, whatever their role: their own account's pages."""
    return declare(view, Access(Via.SESSION, frozenset(PERSON_ROLES), frozenset(PERSON_ROLES)))


def public(view: F) -> F:
    """Anyone, logged in or not: the view itself decides (a login form, a signed webhook)."""
    return declare(view, Access(Via.ANYONE, frozenset(Role), frozenset(Role)))


def current_portal_user() -> User:
    return current_user._get_current_object()


def current_client() -> Client:
    """The client a client-side user belongs to; every client-facing query is scoped by it."""
    user = current_portal_user()
    if user.client is None:
        abort(404)
    return user.client
