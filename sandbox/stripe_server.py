"""The Stripe sandbox: localstripe in its own process, on 127.0.0.1 only.

Run as ``python -m sandbox.stripe_server --port N``. It does not use the ``localstripe`` CLI, which
binds every interface and pickles its store into one fixed /tmp file shared by all instances, and it
adjusts localstripe in the documented ways of ``_patch_localstripe``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

LOOPBACK = "127.0.0.1"


def _patch_localstripe() -> None:
    """Make localstripe safe for parallel test runs and closer to real Stripe where we depend on it."""
    from aiohttp import web
    from localstripe import server
    from localstripe.errors import UserError
    from localstripe.resources import Customer, Invoice, InvoiceItem, InvoiceLineItem
    from localstripe.webhooks import _webhooks

    # 1. Never write /tmp/localstripe.pickle (shared by every instance on the machine).
    server.store.dump_to_disk = lambda: None

    # 2. DELETE /_config/data keeps webhooks; add a route that forgets them between tests.
    async def clear_webhooks(request: web.Request) -> web.Response:
        _webhooks.clear()
        return web.Response()

    server.app.router.add_delete("/_config/webhooks", clear_webhooks)

    # 3. Invoices as real Stripe (API >= 2022-08-01) makes them. localstripe 1.15 only creates
    # invoices for customers WITH a subscription (404 otherwise) and always sweeps the customer's
    # pending items into a new invoice. Real Stripe creates one-off invoices, sweeps pending items
    # only with pending_invoice_items_behavior=include (the default is "exclude": an empty draft),
    # and accepts currency, auto_advance and collection_method, which localstripe refuses.
    original_create = Invoice._api_create

    def create_invoice(
        customer: Any = None,
        subscription: Any = None,
        pending_invoice_items_behavior: Any = None,
        currency: Any = None,
        auto_advance: Any = None,
        collection_method: Any = None,
        **kwargs: Any,
    ) -> Any:
        one_off = subscription is None and isinstance(customer, str) and customer.startswith("cus_")
        if not (one_off and not Customer._api_retrieve(customer).subscriptions._list):
            return original_create(customer=customer, subscription=subscription, **kwargs)
        if pending_invoice_items_behavior == "include":
            invoice = Invoice(customer=customer, **kwargs)
        else:
            # Keep the pending items out of the sweep in localstripe's constructor.
            pending = [
                item
                for item in InvoiceItem._api_list_all(None, customer=customer, limit=99)._list
                if item.invoice is None
            ]
            for item in pending:
                item.invoice = "in_reserved"
            try:
                invoice = Invoice(customer=customer, **kwargs)
            finally:
                for item in pending:
                    item.invoice = None
        if currency is not None and not invoice.lines._list:
            invoice.currency = str(currency).lower()
        return invoice

    Invoice._api_create = staticmethod(create_invoice)

    # 4. An invoice item created with invoice=<id> is a line of that draft invoice at once (localstripe
    # records the id but leaves the line out of the invoice's lines and total).
    original_item_create = InvoiceItem._api_create

    def create_invoice_item(**data: Any) -> Any:
        invoice_id = data.get("invoice")
        if invoice_id is not None:
            invoice = Invoice._api_retrieve(invoice_id)
            if invoice.status != "draft":
                raise UserError(400, "You can only add invoice items to draft invoices.")
            currency = str(data.get("currency") or "").lower()
            if invoice.lines._list and currency and currency != invoice.currency:
                raise UserError(400, "The currency of the item does not match the invoice's.")
        item = original_item_create(**data)
        if invoice_id is not None:
            invoice.lines._list.append(InvoiceLineItem(item))
            invoice.currency = item.currency
        return item

    InvoiceItem._api_create = staticmethod(create_invoice_item)

    # 5. GET /v1/invoice_payments (API >= 2025-03-31): which invoice a PaymentIntent paid. A Charge or
    # a Dispute names its PaymentIntent only; localstripe keeps the PaymentIntent on the invoice.
    async def list_invoice_payments(request: web.Request) -> web.Response:
        wanted_intent = request.query.get("payment[payment_intent]")
        wanted_invoice = request.query.get("invoice")
        found = []
        for key, value in list(server.store.items()):
            if not key.startswith("invoice:") or value.payment_intent is None:
                continue
            if wanted_intent and value.payment_intent != wanted_intent:
                continue
            if wanted_invoice and value.id != wanted_invoice:
                continue
            found.append(
                {
                    "id": "inpay_" + value.id[3:],
                    "object": "invoice_payment",
                    "invoice": value.id,
                    "amount_paid": value.amount_paid,
                    "amount_requested": value.amount_due,
                    "currency": value.currency,
                    "is_default": True,
                    "livemode": False,
                    "created": value.created,
                    "payment": {"type": "payment_intent", "payment_intent": value.payment_intent},
                    "status": "paid" if value.status == "paid" else "open",
                }
            )
        body = {"object": "list", "url": "/v1/invoice_payments", "has_more": False, "data": found}
        return web.json_response(body)

    server.app.router.add_get("/v1/invoice_payments", list_invoice_payments)


def serve(port: int) -> None:
    from aiohttp import web
    from localstripe import server

    _patch_localstripe()
    # Access log + localstripe's "webhook delivered/failed" lines end up in the fixture's log file.
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s")
    print(f"localstripe stand-in listening on {LOOPBACK}:{port}", flush=True)
    web.run_app(server.app, host=LOOPBACK, port=port, print=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="localstripe on 127.0.0.1 without the pickle file")
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)
