"""Rate limits per source address, per account and per API token (Flask-Limiter).

The per-address lockout in ``portal.accounts.services`` stops password guessing against one
account, but it also let anyone lock any account; these limits stop one address from trying many
accounts (or sending many e-mails) long before it locks more than a handful of them.

One Limiter per application, made in ``init_limits``: Flask-Limiter keeps its storage and its
on/off switch on the Limiter object, so a module-level one would be shared by every app a test run
creates. The limits are attached to the registered view functions by endpoint name, in the table
below (each view is replaced by its wrapped self), so the views stay free of limiter decorators.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from sqlalchemy import select

from portal.accounts.models import ApiToken
from portal.accounts.services import digest_token, normalize_email
from portal.db import db

_POST = ["POST"]


def _limits(setting: str) -> Callable[[], str]:
    # Read per request, so the test app's small limits (and an operator's) apply without a restart
    # of the Limiter object.
    return lambda: current_app.config[setting]


def _account_key() -> str:
    """The e-mail address typed in the form: limits e-mails to one account from many addresses."""
    return "account:" + normalize_email(request.form.get("email", ""))[:254]


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _token_key() -> str:
    # The token's digest, never the token itself, goes to the limiter's storage (Redis).
    return "token:" + digest_token(_bearer() or "")


def _has_valid_token() -> bool:
    raw = _bearer()
    if raw is None:
        return False
    token = db.session.scalars(select(ApiToken).where(ApiToken.token_hash == digest_token(raw))).first()
    return token is not None and token.revoked_at is None


# endpoint -> (setting, key function or None for the source address, shared scope or None)
_FORM_LIMITS: dict[str, list[tuple[str, Callable[[], str] | None, str | None]]] = {
    "auth.login": [("RATELIMIT_LOGIN", None, None)],
    # Reset and unlock e-mails share one budget: either can flood a mailbox.
    "auth.forgot_password": [
        ("RATELIMIT_EMAIL", None, "emails"),
        ("RATELIMIT_EMAIL_ACCOUNT", _account_key, "emails-to-account"),
    ],
    "auth.request_unlock": [
        ("RATELIMIT_EMAIL", None, "emails"),
        ("RATELIMIT_EMAIL_ACCOUNT", _account_key, "emails-to-account"),
    ],
    "auth.reset_password": [("RATELIMIT_LINKS", None, "links")],
    "auth.accept_invitation": [("RATELIMIT_LINKS", None, "links")],
    "auth.unlock": [("RATELIMIT_LINKS", None, "links")],
    "accounts.client_users_page": [("RATELIMIT_INVITE", None, "invitations")],
    "accounts.clients": [("RATELIMIT_INVITE", None, "invitations")],
    "people.team": [("RATELIMIT_INVITE", None, "invitations")],
    "people.team_reinvite": [("RATELIMIT_INVITE", None, "invitations")],
    "people.client_user_reinvite": [("RATELIMIT_INVITE", None, "invitations")],
}


# A successful login (a redirect) is not counted: the staff of an office behind one NAT address
# log in every morning, and only failures are what an attacker spends.
_COUNT_ONLY_FAILURES = {"auth.login"}


def _failed(response: Response) -> bool:
    return response.status_code != 302


def init_limits(app: Flask) -> None:
    """Attach the limits to ``app`` (after its blueprints are registered)."""
    limiter = Limiter(
        get_remote_address,  # the real client: ProxyFix (TRUSTED_PROXIES) has already run
        storage_uri=app.config["RATELIMIT_STORAGE_URI"],
        # Retry-After is set by the 429 handlers (retry_after_seconds), never rounded down to 0.
        headers_enabled=False,
        # A limiter storage (Redis) that is down must not take logins down with it.
        swallow_errors=True,
    )
    limiter.init_app(app)
    for endpoint, limits in _FORM_LIMITS.items():
        # The wrapped view replaces the registered one: Flask-Limiter checks a decorated limit
        # when the wrapper runs, and skips it in its before-request hook.
        view: Callable[..., Any] = app.view_functions[endpoint]
        deduct_when = _failed if endpoint in _COUNT_ONLY_FAILURES else None
        for setting, key_func, scope in limits:
            if scope is None:
                limit = limiter.limit(
                    _limits(setting), key_func=key_func, methods=_POST, deduct_when=deduct_when
                )
            else:
                limit = limiter.shared_limit(
                    _limits(setting), scope, key_func=key_func, methods=_POST, deduct_when=deduct_when
                )
            view = limit(view)
        app.view_functions[endpoint] = view
    api = app.blueprints["api"]
    # Limiting a whole blueprint is documented Flask-Limiter usage; its type hints only know views.
    limit_api = limiter.limit(
        _limits("RATELIMIT_API"), key_func=_token_key, exempt_when=lambda: _bearer() is None
    )
    limit_api(api)  # type: ignore[call-overload]
    limit_anonymous = limiter.limit(_limits("RATELIMIT_API_ANONYMOUS"), exempt_when=_has_valid_token)
    limit_anonymous(api)  # type: ignore[call-overload]
    app.extensions["seatmeter.limiter"] = limiter


def retry_after_seconds() -> int:
    """Whole seconds until the limit this request broke lets a request through again (at least 1)."""
    limiter: Limiter | None = current_app.extensions.get("seatmeter.limiter")
    current = limiter.current_limit if limiter is not None else None
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))


def rate_limited_message() -> str:
    seconds = retry_after_seconds()
    wait = f"{math.ceil(seconds / 60)} minutes" if seconds > 90 else f"{seconds} seconds"
    return f"Too many requests from your address. Try again in {wait}."
