"""One run's way to QuickBooks: python-quickbooks with a live token, retries, and request ids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import requests
from quickbooks.exceptions import AuthorizationException
from quickbooks.mixins import DecimalEncoder

from metering.quickbooks.client import (
    QuickBooksBusy,
    QuickBooksSettings,
    api_client,
    backoff_seconds,
    pause,
)
from metering.quickbooks.connection import NeedsReconnect, authorized_client, mark_reconnect
from metering.quickbooks.models import (
    QuickBooksConnection,
    RecordKind,
)

T = TypeVar("T")

# Tries of one call that QuickBooks throttles (429) or fails (5xx) before the run stops for later.
MAX_TRIES = 4


def digest_of(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, cls=DecimalEncoder, sort_keys=True).encode()).hexdigest()


def request_id(kind: RecordKind, local_id: int, digest: str) -> str:
    return f"seatmeter-{kind.value}-{local_id}-{digest[:16]}"


def quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


@dataclass
class Api:
    """One run's way to QuickBooks: a live token (refreshed when due, and once on a 401), and retries."""

    connection: QuickBooksConnection
    settings: QuickBooksSettings
    now: datetime
    _client: Any = None
    calls: list[str] = field(default_factory=list)

    def client(self, *, force_refresh: bool = False) -> Any:
        if self._client is None or force_refresh:
            auth = authorized_client(self.connection, self.settings, self.now, force_refresh=force_refresh)
            self._client = api_client(self.settings, auth, self.connection.realm_id)
        return self._client

    def call(self, action: Callable[[Any], T]) -> T:
        tries = 0
        refreshed = False
        while True:
            try:
                return action(self.client())
            except AuthorizationException as error:
                if error.error_code != 401:
                    raise
                if refreshed:
                    problem = "QuickBooks refuses even a freshly renewed token. Connect QuickBooks again."
                    mark_reconnect(self.connection, problem)
                    raise NeedsReconnect(problem) from None
                # The access token expired early (or was revoked): renew it once and try again.
                refreshed = True
                self.client(force_refresh=True)
            except (QuickBooksBusy, requests.RequestException) as error:
                tries += 1
                if tries >= MAX_TRIES:
                    raise QuickBooksBusy(getattr(error, "status", 0), None) from None
                pause(backoff_seconds(tries, getattr(error, "retry_after", None)))

    def query(self, entity: str, where: str) -> list[dict[str, Any]]:
        # QuickBooks' query language, not SQL; every value in `where` went through quote.
        text = f"select * from {entity} where {where} maxresults 2"  # nosec B608
        self.calls.append(f"query {entity}")
        result = self.call(lambda qb: qb.query(text))
        rows: list[dict[str, Any]] = result.get("QueryResponse", {}).get(entity, [])
        return rows

    def get(self, entity: str, qbo_id: str) -> dict[str, Any]:
        self.calls.append(f"get {entity}")
        obj: dict[str, Any] = self.call(lambda qb: qb.get_single_object(entity, qbo_id))[entity]
        return obj

    def write(self, entity: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        self.calls.append(f"write {entity}")
        text = json.dumps(body, cls=DecimalEncoder)
        obj: dict[str, Any] = self.call(lambda qb: qb.create_object(entity, text, request_id=request_id))[
            entity
        ]
        return obj
