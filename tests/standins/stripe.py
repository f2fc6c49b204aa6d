"""Pytest plugin: Stripe stand-in (localstripe in its own process on 127.0.0.1).

* ``localstripe`` (session) yields ``LocalStripe(api_base, api_key)``.  Point the real ``stripe``
  library at it with ``stripe.StripeClient(api_key, base_addresses={"api": api_base})`` or with the
  module globals ``stripe.api_key`` / ``stripe.api_base`` (both work with stripe 16).
* ``stripe_env`` (function) empties localstripe (data AND webhooks) and sets those module globals.
* ``register_webhook`` registers a receiver through localstripe's ``/_config/webhooks/<id>``.
* ``fail_requests`` makes the stand-in answer the next API requests with 500s (the fault suite).

The launcher (``python -m sandbox.stripe_server --port N``) does not use the ``localstripe`` CLI:
that binds every interface and pickles its store into one fixed /tmp file shared by all instances.
It also adjusts localstripe where it differs from real Stripe in ways we depend on, see
``_patch_localstripe`` (each numbered change says which).
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest
import stripe

from tests.standins.ports import sandbox_server

API_KEY = "sk_test_seatmeter_standin"  # localstripe accepts any sk_test_ key


@dataclass(frozen=True)
class LocalStripe:
    api_base: str
    api_key: str = API_KEY


def _request(method: str, url: str, form: list[tuple[str, str]] | None = None) -> None:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10):
        pass


def register_webhook(
    server: LocalStripe, url: str, secret: str, events: Iterable[str] | None = None, webhook_id: str = "test"
) -> None:
    """Send localstripe's events to ``url``, signed with ``secret`` (Stripe-Signature header).

    ``events`` limits the event types; None means all.  Delivery happens about 1 s after the event.
    localstripe has no WebhookEndpoint API, so product code cannot register endpoints itself.
    """
    form = [("url", url), ("secret", secret)]
    form += [("events[]", e) for e in events or ()]
    _request("POST", f"{server.api_base}/_config/webhooks/{webhook_id}", form)


def fail_requests(server: LocalStripe, fail: int, after: int = 0) -> None:
    """Let ``after`` API requests through, then answer ``fail`` with Stripe's 500 (not applied)."""
    _request("POST", f"{server.api_base}/_config/faults", [("fail", str(fail)), ("after", str(after))])


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    with sandbox_server(tmp_path_factory, "sandbox.stripe_server", "localstripe") as url:
        yield LocalStripe(api_base=url)


@pytest.fixture
def stripe_env(localstripe: LocalStripe, monkeypatch: pytest.MonkeyPatch) -> LocalStripe:
    """Empty localstripe and point the ``stripe`` module globals at it for this test."""
    _request("DELETE", f"{localstripe.api_base}/_config/data")
    # localstripe's own reset keeps registered webhooks; our launcher adds this route to drop them.
    _request("DELETE", f"{localstripe.api_base}/_config/webhooks")
    _request("DELETE", f"{localstripe.api_base}/_config/faults")
    monkeypatch.setattr(stripe, "api_key", localstripe.api_key)
    monkeypatch.setattr(stripe, "api_base", localstripe.api_base)
    return localstripe
