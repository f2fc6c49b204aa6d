"""Month close, invoices, Stripe and dunning.

What the web pages and the API use (import from the modules named):

* ``metering.billing.queries``: ``list_invoices``, ``get_invoice_for_client``, ``get_invoice``,
  ``invoice_json``, ``parse_period``, ``billing_account_of``;
* ``metering.billing.estimate.estimate_month``: a client's month in progress as its close will bill it
  (the dashboard, the reseller's client page, the order quote);
* ``metering.billing.catalog.product_price``: the price rating uses for a product;
* ``metering.billing.pdf.invoice_pdf``;
* ``metering.billing.runs``: ``run_close``, ``run_finalize`` (edges: they commit);
* ``metering.billing.finalize.finalize_invoice`` for one reviewed draft (flushes only);
* ``metering.billing.cards``: ``start_card_setup``, ``adopt_card``.
"""
