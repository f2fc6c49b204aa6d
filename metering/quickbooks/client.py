"""Intuit's own clients, set up from the settings: ``intuit-oauth``'s AuthClient and python-quickbooks.

Settings (read once by portal.config): ``QUICKBOOKS_CLIENT_ID``, ``QUICKBOOKS_CLIENT_SECRET`` (the
Intuit developer app's keys), ``QUICKBOOKS_ENVIRONMENT`` (``sandbox`` or ``production``),
``QUICKBOOKS_REDIRECT_URI`` (registered on the app; default: the portal's own callback page under
PUBLIC_URL) and ``QUICKBOOKS_BASE_URL``, which points both clients at another server that speaks
Intuit's protocols (the stand-in of ``make run`` and the tests) instead of Intuit's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from quickbooks import QuickBooks

# Intuit ignores minor versions below 75 since 2025; python-quickbooks 0.9 sends this one by default.
MINOR_VERSION = 75
SCOPES = [Scopes.ACCOUNTING]
REQUIRED_SETTINGS = ("QUICKBOOKS_CLIENT_ID", "QUICKBOOKS_CLIENT_SECRET")


@dataclass(frozen=True)
class QuickBooksSettings:
    client_id: str
    client_secret: str
    environment: str
    redirect_uri: str
    base_url: str | None

    @property
    def oauth_environment(self) -> str:
        # AuthClient takes a discovery document's URL where it would take "sandbox" or "production".
        if self.base_url:
            return f"{self.base_url}/.well-known/openid_configuration"
        return self.environment


def missing_settings() -> list[str]:
    """The settings without which nothing can be connected, by name (the sync page lists them)."""
    return [name for name in REQUIRED_SETTINGS if not current_app.config.get(name)]


def quickbooks_settings() -> QuickBooksSettings | None:
    if missing_settings():
        return None
    config = current_app.config
    redirect = config.get("QUICKBOOKS_REDIRECT_URI") or f"{config['PUBLIC_URL']}/reseller/quickbooks/callback"
    return QuickBooksSettings(
        client_id=config["QUICKBOOKS_CLIENT_ID"],
        client_secret=config["QUICKBOOKS_CLIENT_SECRET"],
        environment=config.get("QUICKBOOKS_ENVIRONMENT") or "sandbox",
        redirect_uri=redirect,
        base_url=config.get("QUICKBOOKS_BASE_URL"),
    )


def auth_client(
    settings: QuickBooksSettings,
    *,
    access_token: str | None = None,
    refresh_token: str | None = None,
    realm_id: str | None = None,
) -> AuthClient:
    """Reads Intuit's discovery document (one GET) to learn the authorize and token endpoints."""
    return AuthClient(
        settings.client_id,
        settings.client_secret,
        settings.redirect_uri,
        settings.oauth_environment,
        access_token=access_token,
        refresh_token=refresh_token,
        realm_id=realm_id,
    )


class QuickBooksBusy(Exception):
    """HTTP 429 or a 5xx: worth trying again later (``retry_after`` seconds, when QuickBooks said)."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"QuickBooks answered HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class _QuickBooksClient(QuickBooks):
    """python-quickbooks, telling a throttled or failing QuickBooks apart from a refusal.

    The library turns every answer with a Fault into an exception by error code, so a 429
    ThrottleExceeded (code 3001) would read like a validation error; the status is only seen here.
    """

    def process_request(
        self, request_type: str, url: str, headers: Any = "", params: Any = "", data: Any = ""
    ) -> Any:
        response = super().process_request(request_type, url, headers=headers, params=params, data=data)
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("Retry-After")
            raise QuickBooksBusy(
                response.status_code, float(retry_after) if retry_after and retry_after.isdigit() else None
            )
        return response


def api_client(settings: QuickBooksSettings, auth: AuthClient, realm_id: str) -> QuickBooks:
    client = _QuickBooksClient(
        auth_client=auth, refresh_token=auth.refresh_token, company_id=realm_id, minorversion=MINOR_VERSION
    )
    if settings.base_url:
        client.sandbox = False
        client.api_url_v3 = f"{settings.base_url}/v3"
    return client


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """How long to wait before try ``attempt`` (1, 2, ...): QuickBooks' Retry-After, else doubling."""
    base: float = current_app.config.get("QUICKBOOKS_RETRY_BASE_SECONDS", 1.0)
    wait = retry_after if retry_after is not None else base * 2 ** (attempt - 1)
    return min(wait, 30.0)


def pause(seconds: float) -> None:
    time.sleep(seconds)
