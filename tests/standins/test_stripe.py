"""localstripe + the real ``stripe`` library (16.x) behave the way product billing code relies on.

Findings:
* stripe 16: both ``stripe.StripeClient(key, base_addresses={"api": api_base})`` (use ``client.v1.*``;
  the bare ``client.customers`` still works but warns as deprecated) and the module globals
  ``stripe.api_key`` / ``stripe.api_base`` reach localstripe.  The client sends Stripe-Version
  2026-10-28.endive; localstripe ignores it and answers with pre-2025 object shapes.
* 4000000000000002 is declined when the PaymentMethod is ATTACHED (402 card_declined), as in real
  Stripe test mode; it never gets as far as an invoice.
* Webhooks arrive about 1 s after the API call (localstripe sleeps 1 s per event, then posts to every
  registered endpoint).  An event from a previous test can still land within that second, so
  receivers must filter by type and object id.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from tests.standins.ports import free_port
from tests.standins.stripe import register_webhook

SECRET = "whsec_standin_test"


@pytest.fixture
def client(stripe_env):
    return stripe.StripeClient(stripe_env.api_key, base_addresses={"api": stripe_env.api_base})


@pytest.fixture
def customer_with_visa(client):
    customer = client.v1.customers.create(params={"email": "billing@example.com", "name": "Acme"})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    return customer


@pytest.fixture
def webhook_inbox() -> Iterator[tuple[str, queue.Queue[tuple[bytes, str]]]]:
    """A tiny HTTP receiver thread on 127.0.0.1; yields (url, queue of (raw body, Stripe-Signature))."""
    inbox: queue.Queue[tuple[bytes, str]] = queue.Queue()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            inbox.put((body, self.headers.get("Stripe-Signature", "")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/stripe/webhook", inbox
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def bill(client, customer_id: str, amount: int):
    client.v1.invoice_items.create(
        params={
            "customer": customer_id,
            "amount": amount,
            "currency": "usd",
            "description": "3 seats x Office",
        },
        options={"idempotency_key": f"seats-{customer_id}"},  # ignored by localstripe, honoured by Stripe
    )
    invoice = client.v1.invoices.create(
        params={"customer": customer_id, "pending_invoice_items_behavior": "include"}
    )
    return client.v1.invoices.pay(invoice.id)


def test_both_configuration_styles_reach_localstripe(stripe_env):
    assert stripe_env.api_base.startswith("http://127.0.0.1:")
    via_globals = stripe.Customer.create(email="globals@example.com")  # stripe.api_base set by stripe_env
    client = stripe.StripeClient(stripe_env.api_key, base_addresses={"api": stripe_env.api_base})
    assert client.v1.customers.retrieve(via_globals.id).email == "globals@example.com"


def test_reset_between_tests(client):
    assert client.v1.customers.list().data == []


def test_invoice_item_invoice_paid(client, customer_with_visa):
    assert customer_with_visa.id.startswith("cus_")
    invoice = bill(client, customer_with_visa.id, 1234)
    assert invoice.status == "paid"
    assert (invoice.amount_due, invoice.amount_paid, invoice.currency) == (1234, 1234, "usd")
    assert [line.description for line in invoice.lines.data] == ["3 seats x Office"]


def test_an_invoice_without_include_leaves_pending_items_alone_as_real_stripe_does(
    client, customer_with_visa
):
    # localstripe 1.15 refused this; the stand-in now follows real Stripe (API >= 2022-08-01), whose
    # default is to leave pending items out of a new invoice.
    client.v1.invoice_items.create(
        params={"customer": customer_with_visa.id, "amount": 500, "currency": "usd"}
    )
    invoice = client.v1.invoices.create(params={"customer": customer_with_visa.id})

    assert invoice.lines.data == []
    pending = client.v1.invoice_items.list(params={"customer": customer_with_visa.id}).data
    assert [(item.amount, item.invoice) for item in pending] == [(500, None)]


@pytest.mark.parametrize("how", ["card number", "test payment method"])
def test_declined_card(client, how):
    customer = client.v1.customers.create(params={"email": "declined@example.com"})
    if how == "card number":
        card = {"number": "4000000000000002", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
        pm_id = client.v1.payment_methods.create(params={"type": "card", "card": card}).id
    else:
        pm_id = "pm_card_visa_chargeDeclined"  # the same card as a Stripe test id (no raw PAN needed)
    with pytest.raises(stripe.CardError) as exc_info:
        client.v1.payment_methods.attach(pm_id, params={"customer": customer.id})
    assert exc_info.value.http_status == 402
    assert exc_info.value.code == "card_declined"


def test_webhook_delivered_and_verified(stripe_env, client, customer_with_visa, webhook_inbox):
    url, inbox = webhook_inbox
    register_webhook(stripe_env, url, SECRET, events=["invoice.payment_succeeded"])
    started = time.monotonic()
    invoice = bill(client, customer_with_visa.id, 700)

    deadline = started + 10
    while True:
        body, signature = inbox.get(timeout=max(0.1, deadline - time.monotonic()))
        event = stripe.Webhook.construct_event(body.decode(), signature, SECRET)
        if event.type == "invoice.payment_succeeded" and event.data.object.id == invoice.id:
            break
    latency = time.monotonic() - started
    assert 0.5 < latency < 5, latency  # localstripe waits ~1 s before each delivery
    assert event.data.object.amount_paid == 700

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode(), signature, "whsec_wrong")
    assert json.loads(body)["type"] == "invoice.payment_succeeded"
