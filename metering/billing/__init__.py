"""Month close, invoices, Stripe and dunning.

What the web pages and the API use (import from the modules named):

* ``metering.billing.queries``: ``list_invoices``, ``get_invoice_for_client``, ``get_invoice``,
  ``invoice_json``, ``parse_period``, ``billing_account_of``, ``newest_period``, ``draft_count``,
  ``overdue_clients``, ``drafts_to_review``;
* ``metering.billing.pdf.invoice_pdf``;
* ``metering.billing.runs``: ``run_close``, ``run_finalize`` (edges: they commit);
* ``metering.billing.finalize.finalize_invoice`` for one reviewed draft (flushes only);
* ``metering.billing.review``: ``get_period_invoice``, ``hold_invoice``, ``release_invoice``,
  ``approve_invoice``, ``approve_period`` (the reseller's bill review; flush only);
* ``metering.billing.review_rows``: ``month_review``, ``line_details`` (what the review pages show);
* ``metering.billing.cards``: ``start_card_setup``, ``adopt_card``.
"""
