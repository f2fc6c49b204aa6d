"""Pytest plugin: the ConnectWise PSA stand-in (``sandbox/connectwise_server.py``) as a real process.

``connectwise_server`` (session) starts it on 127.0.0.1 with its own API member keys and clientId;
``connectwise`` (function) empties it and returns a handle whose helpers drive the test-control
endpoints (seed companies, agreements and catalog items; force a 429; edit an addition "in the
PSA"; read every addition and the calls received). Product code reaches it through its settings
(``CONNECTWISE_URL`` ...) and its normal HTTP client; nothing here patches the adapter.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.standins.ports import sandbox_server

COMPANY = "northwind"
PUBLIC_KEY = "stand-in-public"
PRIVATE_KEY = "stand-in-private"
CLIENT_ID = "0e6e8f2c-stand-in-client-id"


@dataclass(frozen=True)
class ConnectWiseServer:
    url: str

    def settings(self) -> dict[str, str]:
        """The app's CONNECTWISE_* settings for this stand-in."""
        return {
            "CONNECTWISE_URL": self.url,
            "CONNECTWISE_COMPANY_ID": COMPANY,
            "CONNECTWISE_PUBLIC_KEY": PUBLIC_KEY,
            "CONNECTWISE_PRIVATE_KEY": PRIVATE_KEY,
            "CONNECTWISE_CLIENT_ID": CLIENT_ID,
        }

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def reset(self) -> None:
        self._request("POST", "/_control/reset", {})

    def seed(self, **lists: list[dict[str, Any]]) -> dict[str, list[int]]:
        seeded: dict[str, list[int]] = self._request("POST", "/_control/seed", lists)
        return seeded

    def fail_next(self, method: str = "*", status: int = 429, count: int = 1, retry_after: int = 1) -> None:
        self._request(
            "POST",
            "/_control/faults",
            {"method": method, "status": status, "count": count, "retry_after": retry_after},
        )

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """The next ``count`` calls of ``method`` are carried out, and answered ``seconds`` later."""
        self._request("POST", "/_control/faults", {"method": method, "delay": seconds, "count": count})

    def edit_addition(self, addition_id: int, quantity: int) -> None:
        self._request("POST", f"/_control/additions/{addition_id}", {"quantity": quantity})

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._request("GET", "/_control/state")
        return state

    def additions(self) -> list[dict[str, Any]]:
        additions: list[dict[str, Any]] = self.state()["additions"]
        return additions

    def calls(self) -> dict[str, int]:
        calls: dict[str, int] = self.state()["calls"]
        return calls


@pytest.fixture(scope="session")
def connectwise_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectWiseServer]:
    args = ["--company", COMPANY, "--public-key", PUBLIC_KEY, "--private-key", PRIVATE_KEY]
    args += ["--client-id", CLIENT_ID]
    with sandbox_server(tmp_path_factory, "sandbox.connectwise_server", "connectwise_server", args) as url:
        yield ConnectWiseServer(url=url)


@pytest.fixture
def connectwise(connectwise_server: ConnectWiseServer) -> ConnectWiseServer:
    """The stand-in, emptied: no companies, agreements, catalog items, additions or faults."""
    connectwise_server.reset()
    return connectwise_server
