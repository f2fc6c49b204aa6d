"""Stripe events are accepted only when signed within 5 minutes of now, either way."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from tests.metering.webhooks.test_views import SECRET


def _signed_at(timestamp: int) -> tuple[str, dict[str, str]]:
    body = json.dumps({"id": "evt_t", "type": "customer.created", "data": {"object": {"id": "cus_1"}}})
    digest = hmac.new(SECRET.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={timestamp},v1={digest}", "Content-Type": "application/json"}


@pytest.fixture
def webhook_client(app, client):
    app.config["STRIPE_WEBHOOK_SECRET"] = SECRET
    return client


@pytest.mark.parametrize(
    ("offset", "status"),
    [
        (24 * 3600, 400),  # a day ahead: the example
        (6 * 60, 400),
        (-6 * 60, 400),
        (4 * 60, 200),  # clocks a little apart
        (-4 * 60, 200),
        (0, 200),
    ],
)
def test_events_signed_more_than_5_minutes_from_now_are_refused(webhook_client, offset, status):
    body, headers = _signed_at(int(time.time()) + offset)

    response = webhook_client.post("/webhooks/stripe", data=body, headers=headers)

    assert response.status_code == status, response.get_json()
