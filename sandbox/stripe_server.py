"""The Stripe sandbox: localstripe in its own process, on 127.0.0.1 only.

Run as ``python -m sandbox.stripe_server --port N``. It does not use the ``localstripe`` CLI, which
binds every interface and pickles its store into one fixed /tmp file shared by all instances, and it
adjusts localstripe in the documented ways of ``_patch_localstripe``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
from typing import Any

LOOPBACK = "127.0.0.1"


def _patch_localstripe() -> None:
    """Make localstripe safe for parallel test runs and closer to real Stripe where we depend on it."""
    from aiohttp import web
    from localstripe import server
    from localstripe.errors import UserError
    from localstripe.resources import Customer, Invoice, InvoiceItem, InvoiceLineItem, PaymentIntent, Refund
    from localstripe.webhooks import _webhooks

    # 1. Never write /tmp/localstripe.pickle (shared by every instance on the machine).
    server.store.dump_to_disk = lambda: None

    # 2. DELETE /_config/data keeps webhooks; add a route that forgets them between tests.
    async def clear_webhooks(request: web.Request) -> web.Response:
        _webhooks.clear()
        return web.Response()

    server.app.router.add_delete("/_config/webhooks", clear_webhooks)

    # 2b. Faults on demand, for the fault suite: POST /_config/faults with ``fail=N`` (and optionally
    # ``after=M``) lets the next M API requests through, then answers N with a 500 as Stripe does
    # when it is having trouble, without applying them. DELETE /_config/faults ends it.
    faults = {"after": 0, "fail": 0}

    async def set_faults(request: web.Request) -> web.Response:
        form = await request.post()
        faults["after"] = int(str(form.get("after", "0")))
        faults["fail"] = int(str(form.get("fail", "0")))
        return web.Response()

    async def clear_faults(request: web.Request) -> web.Response:
        faults.update(after=0, fail=0)
        return web.Response()

    @web.middleware
    async def inject_faults(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/v1/") and faults["fail"] > 0:
            if faults["after"] > 0:
                faults["after"] -= 1
            else:
                faults["fail"] -= 1
                error = {"type": "api_error", "message": "An unknown error occurred (injected)"}
                return web.json_response({"error": error}, status=500)
        return await handler(request)

    server.app.router.add_post("/_config/faults", set_faults)
    server.app.router.add_delete("/_config/faults", clear_faults)
    server.app.middlewares.insert(0, inject_faults)

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

    # 6. POST /v1/credit_notes on an open invoice, which localstripe lacks. As Stripe documents it for
    # an open invoice: the credit note's amount lowers the invoice's amount_due (its total stays), a
    # credit note may not exceed what is due, and one for all of it leaves the invoice paid; paying
    # the invoice charges amount_due. On a paid invoice (a post-payment credit note) the
    # refund_amount, credit_amount and out_of_band_amount must add up to the credit note's amount,
    # which may not exceed what was paid and not yet credited; refund_amount refunds the charge that
    # paid the invoice (a localstripe Refund of its PaymentIntent), listed in the note's `refunds`.
    # credit_amount (the customer's Stripe balance) is refused: not imitated. The same
    # Idempotency-Key gives the same answer and credits nothing more, as Stripe promises.
    def amount_due(invoice: Any) -> int:
        return max(0, invoice.total - getattr(invoice, "_credited", 0))

    Invoice.amount_due = property(amount_due)
    original_status = Invoice.status

    def status(invoice: Any) -> str:
        found = original_status.fget(invoice)
        if found == "open" and getattr(invoice, "_credited", 0) and amount_due(invoice) <= 0:
            return "paid"
        return str(found)

    Invoice.status = property(status)
    original_pay = Invoice._api_pay_invoice

    def pay_invoice(id: str) -> Any:
        invoice = Invoice._api_retrieve(id)
        credited = getattr(invoice, "_credited", 0)
        if not credited or invoice.status != "open":
            return original_pay(id)
        # localstripe charges the total: charge what is due instead, as Stripe does.
        customer = Customer._api_retrieve(invoice.customer)
        method = customer._get_default_payment_method_or_source()
        if method is None:
            raise UserError(404, "This customer has no payment method")
        intent = PaymentIntent(
            amount=amount_due(invoice),
            currency=invoice.currency,
            customer=invoice.customer,
            payment_method=method.id,
        )
        invoice.payment_intent = intent.id
        intent.invoice = invoice.id
        intent._confirm(on_failure_now=lambda: None)
        return invoice

    # The route captured localstripe's function when it was registered: point it at this one.
    for route in server.app.router.routes():
        if route.method == "POST" and route.resource and route.resource.canonical == "/v1/invoices/{id}/pay":
            route._handler = server.api_extra(pay_invoice, route.resource.canonical)

    def stripe_error(message: str, param: str) -> web.Response:
        body = {"error": {"type": "invalid_request_error", "message": message, "param": param}}
        return web.json_response(body, status=400)

    answered: dict[str, dict[str, Any]] = {}

    def form_int(form: Any, name: str) -> int | None:
        raw = str(form.get(name) or "")
        return int(raw) if raw.lstrip("-").isdigit() else None

    async def create_credit_note(request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        # An answer outlives neither its invoice nor a DELETE /_config/data (a test's fresh start).
        if key and key in answered and f"invoice:{answered[key]['invoice']}" in server.store:
            return web.json_response(answered[key])
        form = await request.post()
        invoice_id = str(form.get("invoice") or "")
        if not invoice_id:
            return stripe_error("Missing required param: invoice.", "invoice")
        try:
            invoice = Invoice._api_retrieve(invoice_id)
        except UserError:
            return stripe_error(f"No such invoice: '{invoice_id}'", "invoice")
        amount = form_int(form, "amount")
        if amount is None:
            return stripe_error("Invalid integer: amount.", "amount")
        if invoice.status == "paid":
            answer = post_payment_credit_note(form, invoice, amount)
            if isinstance(answer, web.Response):
                return answer
        elif invoice.status == "open":
            if amount <= 0 or amount > amount_due(invoice):
                return stripe_error("The credit note amount exceeds the invoice's amount due.", "amount")
            invoice._credited = getattr(invoice, "_credited", 0) + amount
            answer = {"pre_payment_amount": amount, "post_payment_amount": 0, "type": "pre_payment"}
            answer |= {"refunds": [], "out_of_band_amount": None}
        else:
            return stripe_error("Only open or paid invoices can be credited by this stand-in.", "invoice")
        metadata = {
            str(key)[len("metadata[") : -1]: str(value)
            for key, value in form.items()
            if str(key).startswith("metadata[") and str(key).endswith("]")
        }
        number = len(getattr(invoice, "_credit_notes", [])) + 1
        note = {
            "id": f"cn_{uuid.uuid4().hex[:24]}",
            "object": "credit_note",
            "amount": amount,
            "total": amount,
            "currency": invoice.currency,
            "customer": invoice.customer,
            "invoice": invoice.id,
            "memo": str(form.get("memo") or "") or None,
            "metadata": metadata,
            "number": f"{invoice.id.upper()}-CN-{number:02d}",
            "reason": form.get("reason"),
            "status": "issued",
            "created": int(time.time()),
            "livemode": False,
            **answer,
        }
        invoice._credit_notes = [*getattr(invoice, "_credit_notes", []), note]
        if key:
            answered[key] = note
        return web.json_response(note)

    def post_payment_credit_note(form: Any, invoice: Any, amount: int) -> dict[str, Any] | web.Response:
        refund_amount = form_int(form, "refund_amount") or 0
        credit_amount = form_int(form, "credit_amount") or 0
        out_of_band = form_int(form, "out_of_band_amount") or 0
        left = invoice.amount_paid - getattr(invoice, "_post_credited", 0)
        if amount <= 0 or amount > left:
            return stripe_error("The credit note amount exceeds the amount paid on the invoice.", "amount")
        if min(refund_amount, credit_amount, out_of_band) < 0:
            return stripe_error("Amounts must be positive.", "refund_amount")
        if refund_amount + credit_amount + out_of_band != amount:
            return stripe_error(
                "The sum of refund_amount, credit_amount and out_of_band_amount must equal the credit "
                "note's total for a paid invoice.",
                "amount",
            )
        if credit_amount:
            return stripe_error("credit_amount is not imitated by this stand-in.", "credit_amount")
        refunds = []
        if refund_amount:
            if invoice.payment_intent is None:
                return stripe_error("The invoice has no charge to refund.", "refund_amount")
            try:
                refund = Refund._api_create(payment_intent=invoice.payment_intent, amount=refund_amount)
            except UserError as error:
                return stripe_error(str(error), "refund_amount")
            refunds.append({"refund": refund.id, "amount_refunded": refund_amount, "type": "refund"})
        invoice._post_credited = getattr(invoice, "_post_credited", 0) + amount
        return {
            "pre_payment_amount": 0,
            "post_payment_amount": amount,
            "type": "post_payment",
            "refunds": refunds,
            "out_of_band_amount": out_of_band or None,
        }

    async def retrieve_credit_note(request: web.Request) -> web.Response:
        wanted = request.match_info["id"]
        for key, value in list(server.store.items()):
            if key.startswith("invoice:"):
                for note in getattr(value, "_credit_notes", []):
                    if note["id"] == wanted:
                        return web.json_response(note)
        body = {"error": {"type": "invalid_request_error", "message": f"No such credit note: '{wanted}'"}}
        return web.json_response(body, status=404)

    server.app.router.add_post("/v1/credit_notes", create_credit_note)
    server.app.router.add_get("/v1/credit_notes/{id}", retrieve_credit_note)


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
