"""Connecting the reseller's QuickBooks Online company (OAuth 2.0 authorization code) and keeping access.

Intuit's access token lives an hour and its refresh token about 100 days; each refresh may hand out a
new refresh token, which is sealed and kept at once. When Intuit refuses a refresh (revoked, expired,
the app disconnected in QuickBooks) the connection turns ``reconnect`` and the sync stops until the
reseller connects again.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from sqlalchemy import delete, select

from metering.periods import BillingPeriod
from metering.quickbooks.client import SCOPES, QuickBooksBusy, QuickBooksSettings, auth_client
from metering.quickbooks.models import ConnectionState, QuickBooksConnection, QuickBooksRecord
from metering.settings import billing_timezone
from portal.audit.services import Actor, record
from portal.db import db
from portal.errors import InvalidInput, ServiceError
from portal.sealing import Purpose, seal, unseal

# Refreshed this long before Intuit's expiry, so a call never starts with a token about to lapse.
REFRESH_MARGIN = timedelta(minutes=5)
MAX_REALM_ID = 32


class QuickBooksUnreachable(ServiceError):
    code = "unavailable"
    http_status = 503


class NeedsReconnect(Exception):
    """QuickBooks no longer accepts Seatmeter's tokens: only the reseller can connect again."""


def current_connection() -> QuickBooksConnection | None:
    return db.session.scalars(select(QuickBooksConnection).order_by(QuickBooksConnection.id)).first()


def authorization_url(settings: QuickBooksSettings) -> tuple[str, str]:
    """Where to send the reseller's browser, and the state to expect back from it."""
    state = secrets.token_urlsafe(24)
    try:
        client = auth_client(settings)
    except (requests.RequestException, AuthClientError, ValueError) as error:
        raise QuickBooksUnreachable(
            f"Intuit's sign-in service could not be reached ({type(error).__name__}). Try again in a minute."
        ) from None
    return client.get_authorization_url(SCOPES, state_token=state), state


def complete_connection(
    actor: Actor, settings: QuickBooksSettings, code: str, realm_id: str, now: datetime
) -> QuickBooksConnection:
    """Trade the authorization code for tokens and keep them (sealed). Flushes."""
    if not code or not realm_id or len(realm_id) > MAX_REALM_ID or not realm_id.isdigit():
        raise InvalidInput("QuickBooks did not send back a company and a code. Start connecting again.")
    try:
        client = auth_client(settings)
        client.get_bearer_token(code, realm_id=realm_id)
    except AuthClientError as error:
        raise InvalidInput(
            f"QuickBooks did not accept the sign-in (HTTP {error.status_code}); it may have taken too long. "
            "Start connecting again."
        ) from None
    except (requests.RequestException, ValueError) as error:
        raise QuickBooksUnreachable(
            f"Intuit's sign-in service could not be reached ({type(error).__name__}). Try again in a minute."
        ) from None
    connection = current_connection()
    if connection is not None and connection.realm_id != realm_id:
        # Another company: what was sent to the old one says nothing about the new one.
        db.session.execute(delete(QuickBooksRecord))
    if connection is None:
        connection = QuickBooksConnection(
            realm_id=realm_id,
            first_period=str(BillingPeriod.containing(now, billing_timezone()).previous()),
            connected_by=actor.label,
        )
        db.session.add(connection)
    connection.realm_id = realm_id
    connection.connected_at = now
    connection.connected_by = actor.label
    _keep_tokens(connection, client, now)
    db.session.flush()
    record(
        actor, "quickbooks.connected", "quickbooks_connection", connection.id, details={"realm_id": realm_id}
    )
    return connection


def _keep_tokens(connection: QuickBooksConnection, client: AuthClient, now: datetime) -> None:
    connection.access_token_sealed = seal(client.access_token, Purpose.QUICKBOOKS_TOKEN)
    connection.refresh_token_sealed = seal(client.refresh_token, Purpose.QUICKBOOKS_TOKEN)
    connection.access_expires_at = now + timedelta(seconds=int(client.expires_in or 3600))
    refresh_seconds = client.x_refresh_token_expires_in
    connection.refresh_expires_at = now + timedelta(seconds=int(refresh_seconds)) if refresh_seconds else None
    connection.state = ConnectionState.CONNECTED
    connection.problem = None


def mark_reconnect(connection: QuickBooksConnection, problem: str) -> None:
    connection.state = ConnectionState.RECONNECT
    connection.problem = problem
    db.session.flush()


def authorized_client(
    connection: QuickBooksConnection,
    settings: QuickBooksSettings,
    now: datetime,
    *,
    force_refresh: bool = False,
) -> AuthClient:
    """An AuthClient holding a live access token: refreshed (and the new tokens kept) when due. Flushes.

    Raises NeedsReconnect when QuickBooks refuses, QuickBooksBusy when it cannot be reached.
    """
    if connection.state is ConnectionState.RECONNECT:
        raise NeedsReconnect(connection.problem or "Connect QuickBooks again.")
    access = unseal(connection.access_token_sealed, Purpose.QUICKBOOKS_TOKEN)
    refresh = unseal(connection.refresh_token_sealed, Purpose.QUICKBOOKS_TOKEN)
    if access is None or refresh is None:
        problem = (
            "The stored QuickBooks tokens cannot be opened (SECRET_KEY changed). Connect QuickBooks again."
        )
        mark_reconnect(connection, problem)
        raise NeedsReconnect(problem)
    try:
        client = auth_client(
            settings, access_token=access, refresh_token=refresh, realm_id=connection.realm_id
        )
        if force_refresh or connection.access_expires_at - REFRESH_MARGIN <= now:
            client.refresh()
            _keep_tokens(connection, client, now)
            db.session.flush()
    except AuthClientError as error:
        if error.status_code in (400, 401):
            problem = (
                "QuickBooks refused to renew Seatmeter's access (the connection was revoked in QuickBooks or "
                "unused for too long). Connect QuickBooks again; nothing is lost, the sync goes on "
                "from there."
            )
            mark_reconnect(connection, problem)
            raise NeedsReconnect(problem) from None
        raise QuickBooksBusy(error.status_code, None) from None
    except requests.RequestException:
        raise QuickBooksBusy(0, None) from None
    return client
