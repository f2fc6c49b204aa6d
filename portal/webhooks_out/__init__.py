"""Outgoing webhooks (Standard Webhooks): endpoints, an outbox of events, their signed deliveries.

The owners of each change (the seat lifecycle, the invoice lifecycle, a client's suspension, the
true-up) call :func:`portal.webhooks_out.services.emit` in their own transaction; the event is an
outbox row, and a Celery task delivers it after the commit. See docs/webhooks.md.
"""
