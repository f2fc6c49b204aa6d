"""``POST /webhooks/stripe``: signed events only, each applied once, payment outcomes and dunning."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from metering.billing.models import Invoice, InvoiceStatus, StripeEvent
from metering.billing.stripe_push import ensure_client_customer, stripe_client
from metering.billing.tasks import push_invoice_now
from portal.db import db
from tests.metering.months import event
from tests.standins.ports import free_port
from tests.standins.stripe import register_webhook

SECRET = "whsec_seatmeter_tests"


def signed(payload: dict, secret: str = SECRET) -> tuple[str, dict[str, str]]:
    """Sign like Stripe does: ``t=<unix time>,v1=<HMAC-SHA256 of "t.payload">``."""
    body = json.dumps(payload)
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={timestamp},v1={digest}", "Content-Type": "application/json"}


def invoice_event(event_id: str, event_type: str, stripe_invoice_id: str) -> dict:
    return {
        "id": event_id,
        "type": event_type,
        "data": {"object": {"id": stripe_invoice_id, "object": "invoice"}},
    }


@pytest.fixture
def webhook_app(app):
    app.config["STRIPE_WEBHOOK_SECRET"] = SECRET
    return app


@pytest.fixture
def sent_invoice(webhook_app, month, make_client, travel) -> Invoice:
    """October's finalized invoice, as if the push had created it in Stripe as in_test_1."""
    make_client("acme")
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    invoice = db.session.scalars(select(Invoice)).one()
    invoice.stripe_invoice_id = "in_test_1"
    db.session.commit()
    return invoice


def post(client, payload: dict, secret: str = SECRET):
    body, headers = signed(payload, secret)
    return client.post("/webhooks/stripe", data=body, headers=headers)


@pytest.mark.parametrize("event_type", ["invoice.paid", "invoice.payment_succeeded"])
def test_payment_succeeded_marks_the_invoice_paid_once(client, sent_invoice, event_type):
    response = post(client, invoice_event("evt_1", event_type, "in_test_1"))

    assert response.status_code == 200
    assert response.get_json() == {"received": True, "result": "paid"}
    db.session.refresh(sent_invoice)
    assert sent_invoice.status is InvoiceStatus.PAID

    again = post(client, invoice_event("evt_1", event_type, "in_test_1"))
    assert again.get_json()["result"] == "duplicate"
    assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 1


def test_payment_failed_makes_it_overdue_and_tells_the_client(client, sent_invoice, caplog):
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        response = post(client, invoice_event("evt_2", "invoice.payment_failed", "in_test_1"))

    assert response.get_json()["result"] == "overdue"
    db.session.refresh(sent_invoice)
    assert sent_invoice.status is InvoiceStatus.OVERDUE and sent_invoice.overdue_since is not None
    # Then paid (e.g. Stripe's automatic retry succeeded).
    post(client, invoice_event("evt_3", "invoice.paid", "in_test_1"))
    db.session.refresh(sent_invoice)
    assert sent_invoice.status is InvoiceStatus.PAID


def test_bad_signatures_and_unknown_objects(client, sent_invoice):
    forged = post(client, invoice_event("evt_4", "invoice.paid", "in_test_1"), secret="whsec_wrong")
    assert forged.status_code == 400
    unsigned = client.post("/webhooks/stripe", data="{}", content_type="application/json")
    assert unsigned.status_code == 400

    other = post(client, invoice_event("evt_5", "invoice.paid", "in_someone_else"))
    assert other.get_json()["result"] == "ignored: not one of our invoices"
    ignored = post(client, {"id": "evt_6", "type": "customer.created", "data": {"object": {"id": "cus_1"}}})
    assert ignored.get_json()["result"] == "ignored"
    db.session.refresh(sent_invoice)
    assert sent_invoice.status is InvoiceStatus.FINALIZED


def test_without_a_secret_webhooks_are_refused(app, client):
    app.config["STRIPE_WEBHOOK_SECRET"] = None

    assert client.post("/webhooks/stripe", data="{}").status_code == 503


@pytest.fixture
def inbox():
    """A receiver on 127.0.0.1 that keeps what localstripe posts (body, signature)."""
    received: queue.Queue[tuple[str, str]] = queue.Queue()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((body.decode(), self.headers.get("Stripe-Signature", "")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_a_real_localstripe_event_is_verified_and_applied(
    client, webhook_app, stripe_env, month, make_client, inbox
):
    """localstripe signs and sends invoice.payment_succeeded ~1 s after the payment; our endpoint
    verifies that exact delivery. The push already marked the invoice paid, so it changes nothing."""
    webhook_app.config.update(STRIPE_API_KEY=stripe_env.api_key, STRIPE_API_BASE=stripe_env.api_base)
    url, received = inbox
    register_webhook(stripe_env, url, SECRET, events=["invoice.payment_succeeded"])
    acme = make_client("acme")
    api = stripe_client()
    customer = ensure_client_customer(api, acme)
    db.session.commit()
    method = api.v1.payment_methods.attach("pm_card_visa", params={"customer": customer})
    api.v1.customers.update(customer, params={"invoice_settings": {"default_payment_method": method.id}})
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    # No clock travel here: Stripe-Signature timestamps are checked against the real clock.
    month.close("2026-10")
    month.finalize("2026-10")
    invoice = db.session.scalars(select(Invoice)).one()
    assert push_invoice_now(invoice.id) == "paid"
    db.session.refresh(invoice)

    deadline = time.monotonic() + 10
    while True:  # other tests' events may still arrive: filter by our invoice's id
        body, signature = received.get(timeout=max(0.1, deadline - time.monotonic()))
        if json.loads(body)["data"]["object"]["id"] == invoice.stripe_invoice_id:
            break

    response = client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.get_json()["result"] == "already paid"
