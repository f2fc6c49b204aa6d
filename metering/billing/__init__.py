"""Month close, invoices, Stripe and dunning.

What the web pages and the API use, by the module that holds it. Code outside metering imports a
name from ``metering`` itself, whose ``__init__`` exports the ones used outside (``make lint``
checks):

* ``metering.billing.queries``: ``list_invoices``, ``get_invoice_for_client``, ``get_invoice``,
  ``invoice_json``, ``parse_period``, ``billing_account_of``, ``newest_period``, ``draft_count``,
  ``overdue_clients``, ``drafts_to_review``;
* ``metering.billing.estimate.estimate_month``: a client's month in progress as its close will bill it
  (the dashboard, the reseller's client page, the order quote);
* ``metering.billing.catalog.product_price``: the price rating uses for a product;
* ``metering.billing.pdf.invoice_pdf``;
* ``metering.billing.runs``: ``close_in_one_transaction`` (the caller's one transaction) and
  ``run_close`` (a transaction per batch of clients, through the edge's helper); neither commits;
* ``metering.billing.finalize.finalize_period`` for a whole month (flushes only);
* ``metering.billing.finalize.finalize_invoice`` for one reviewed draft (flushes only);
* ``metering.billing.review``: ``get_period_invoice``, ``hold_invoice``, ``release_invoice``,
  ``approve_invoice``, ``approve_period`` (the reseller's bill review; flush only);
* ``metering.billing.review_rows``: ``month_review``, ``line_details`` (what the review pages show);
* ``metering.billing.cards``: ``start_card_setup``, ``adopt_card``.
"""
