"""Pytest plugin: the QuickBooks Online stand-in (``sandbox/quickbooks_server.py``) as a real process.

* ``quickbooks_server`` (session) starts it on a free 127.0.0.1 port with a test app's keys.
* ``quickbooks`` (function) resets it and hands back a :class:`QuickBooksStandIn` to drive it
  (expire tokens, throttle, edit an object "in QuickBooks", read its store).

Product code gets the server only through its settings (``QUICKBOOKS_BASE_URL`` and the keys) and
talks to it with intuit-oauth and python-quickbooks, unpatched.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.standins.ports import sandbox_server

CLIENT_ID = "ABtestclientid0123456789"
CLIENT_SECRET = "test-client-secret"  # a stand-in's key, never a real one
REALM = "9341453050071234"


@dataclass(frozen=True)
class QuickBooksStandIn:
    base_url: str
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    realm: str = REALM

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body or {}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/_control/{path}",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.base_url}/_control/{path}", timeout=10) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self._post("reset")

    def expire_tokens(self, after_calls: int = 0) -> None:
        """Expire every access token now, or from the ``after_calls``-th API call on."""
        self._post("expire-tokens", {"after": after_calls} if after_calls else {})

    def revoke_refresh_tokens(self) -> None:
        self._post("revoke-refresh")

    def throttle(self, count: int = 1) -> None:
        self._post("throttle", {"count": count})

    def edit(self, entity: str, qbo_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        edited: dict[str, Any] = self._post("edit", {"entity": entity, "id": qbo_id, "changes": changes})
        return edited

    def store(self) -> dict[str, dict[str, dict[str, Any]]]:
        objects: dict[str, dict[str, dict[str, Any]]] = self._get("store")
        return objects

    def objects(self, entity: str) -> list[dict[str, Any]]:
        return list(self.store()[entity].values())

    def calls(self) -> dict[str, int]:
        counts: dict[str, int] = self._get("calls")
        return counts

    def settings(self) -> dict[str, object]:
        """The portal's settings that point it at this stand-in."""
        return {
            "QUICKBOOKS_CLIENT_ID": self.client_id,
            "QUICKBOOKS_CLIENT_SECRET": self.client_secret,
            "QUICKBOOKS_BASE_URL": self.base_url,
            "QUICKBOOKS_REDIRECT_URI": "http://localhost/reseller/quickbooks/callback",
            "QUICKBOOKS_RETRY_BASE_SECONDS": 0.01,
        }


@pytest.fixture(scope="session")
def quickbooks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuickBooksStandIn]:
    args = ["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--realm", REALM]
    with sandbox_server(tmp_path_factory, "sandbox.quickbooks_server", "quickbooks_server", args) as url:
        yield QuickBooksStandIn(base_url=url)


@pytest.fixture
def quickbooks(quickbooks_server: QuickBooksStandIn) -> QuickBooksStandIn:
    """A stand-in with no data, no tokens and no faults."""
    quickbooks_server.reset()
    return quickbooks_server
