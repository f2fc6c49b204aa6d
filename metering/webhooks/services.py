"""Applying a verified Stripe event, exactly once per event id.

Stripe delivers at least once and in any order, and localstripe (the test stand-in) delivers about a
second after the API call; events about objects that are not ours are recorded and ignored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from metering.billing.dunning import mark_paid, mark_payment_failed
from metering.billing.models import Invoice, StripeEvent
from portal.audit.services import Actor
from portal.db import db, utcnow

WEBHOOK_ACTOR = Actor.system("Stripe webhook")
PAID_EVENTS = frozenset({"invoice.paid", "invoice.payment_succeeded"})
FAILED_EVENTS = frozenset({"invoice.payment_failed"})


def _our_invoice(stripe_invoice_id: str | None) -> Invoice | None:
    if not stripe_invoice_id:
        return None
    return db.session.scalars(
        select(Invoice).where(Invoice.stripe_invoice_id == stripe_invoice_id).with_for_update()
    ).first()


def apply_stripe_event(event: dict[str, Any]) -> str:
    """Apply one event; returns what it did. A second delivery of an event id is a no-op."""
    event_id = str(event.get("id") or "")
    event_type = str(event.get("type") or "")
    data = event.get("data") or {}
    obj = data.get("object") if isinstance(data, dict) else None
    object_id = obj.get("id") if isinstance(obj, dict) else None
    if not event_id:
        return "ignored: no event id"
    if db.session.get(StripeEvent, event_id) is not None:
        return "duplicate"
    db.session.add(StripeEvent(id=event_id, type=event_type[:100], object_id=object_id))
    db.session.flush()  # a concurrent delivery of the same id fails here, on the primary key

    if event_type not in PAID_EVENTS | FAILED_EVENTS:
        return "ignored"
    invoice = _our_invoice(object_id)
    if invoice is None:
        return "ignored: not one of our invoices"
    if event_type in PAID_EVENTS:
        return "paid" if mark_paid(WEBHOOK_ACTOR, invoice, utcnow()) else "already paid"
    reason = "Stripe could not charge the card on file"
    return "overdue" if mark_payment_failed(WEBHOOK_ACTOR, invoice, reason, utcnow()) else "unchanged"
