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
    from localstripe.resources import Customer, Invoice
    from localstripe.webhooks import _webhooks

    # 1. Never write /tmp/localstripe.pickle (shared by every instance on the machine).
    server.store.dump_to_disk = lambda: None

    # 2. DELETE /_config/data keeps webhooks; add a route that forgets them between tests.
    async def clear_webhooks(request: web.Request) -> web.Response:
        _webhooks.clear()
        return web.Response()

    server.app.router.add_delete("/_config/webhooks", clear_webhooks)

    # 3. localstripe 1.15 only creates invoices for customers WITH a subscription (404 "No upcoming
    # invoices for customer" otherwise), while real Stripe creates one-off invoices.  Allow them, but
    # only with pending_invoice_items_behavior=include: since API 2022-08-01 real Stripe defaults to
    # "exclude" and would create an EMPTY invoice, a trap we want product code to fail on here.
    original_create = Invoice._api_create

    def create_invoice(
        customer: Any = None,
        subscription: Any = None,
        pending_invoice_items_behavior: Any = None,
        **kwargs: Any,
    ) -> Any:
        one_off = subscription is None and isinstance(customer, str) and customer.startswith("cus_")
        if one_off and not Customer._api_retrieve(customer).subscriptions._list:
            if pending_invoice_items_behavior != "include":
                raise UserError(
                    400,
                    "stand-in: pass pending_invoice_items_behavior=include; real Stripe"
                    " (API >= 2022-08-01) would create an empty invoice without it",
                )
            return Invoice(customer=customer, **kwargs)
        return original_create(
            customer=customer,
            subscription=subscription,
            pending_invoice_items_behavior=pending_invoice_items_behavior,
            **kwargs,
        )

    Invoice._api_create = staticmethod(create_invoice)


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
