"""A client adds a card through Stripe: Checkout in "setup" mode, then the card becomes the default.

Stripe's hosted page collects the card (no card data ever reaches the portal). On the way back, or
when Stripe's ``checkout.session.completed`` event arrives (whichever comes first; the browser may
never come back), the portal reads the SetupIntent, checks it belongs to this client's Customer,
makes its payment method the Customer's default for invoices, and retries collecting any unpaid
invoice.
"""

from __future__ import annotations

from typing import Any

import stripe
from sqlalchemy import select

from metering.billing.dunning import billing_account
from metering.billing.finalize import schedule_push
from metering.billing.models import BillingAccount, Invoice, InvoiceStatus
from metering.billing.stripe_push import ensure_client_customer, stripe_client
from portal.accounts.models import Client
from portal.audit.services import Actor, record
from portal.db import db
from portal.errors import InvalidInput, NotFound


def start_card_setup(client: Client, success_url: str, cancel_url: str) -> str:
    """Create a Checkout Session in setup mode; returns the Stripe page to send the person to."""
    client_api = stripe_client()
    customer_id = ensure_client_customer(client_api, client)
    session = client_api.v1.checkout.sessions.create(
        params={
            "mode": "setup",
            "customer": customer_id,
            # Not payment_method_types (refused by the pinned API version): a filter on the methods
            # Stripe offers. Cards only, because invoices are charged to "the card on file".
            "allowed_payment_method_types": ["card"],
            "success_url": success_url + "?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": cancel_url,
            "metadata": {"seatmeter_client": client.ref},
        }
    )
    assert session.url is not None
    return session.url


def _id_of(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.id


def adopt_card(
    actor: Actor, client: Client, *, session_id: str | None = None, setup_intent_id: str | None = None
) -> BillingAccount:
    """Make the card confirmed by a Checkout Session or a SetupIntent the client's default."""
    client_api = stripe_client()
    account = billing_account(client.id)
    if not account.stripe_customer_id:
        raise NotFound("No card setup was started for this client.")
    if session_id:
        session = client_api.v1.checkout.sessions.retrieve(session_id)
        setup_intent_id = _id_of(session.setup_intent)
    if not setup_intent_id:
        raise InvalidInput("Stripe did not say which card was set up.")
    try:
        intent = client_api.v1.setup_intents.retrieve(setup_intent_id)
    except stripe.InvalidRequestError:
        raise NotFound("No such card setup.") from None
    if _id_of(intent.customer) != account.stripe_customer_id:
        raise NotFound("No such card setup.")  # someone else's: not found, never "forbidden"
    if intent.status != "succeeded":
        raise InvalidInput("The card was not confirmed. Try adding it again.")
    payment_method_id = _id_of(intent.payment_method)
    assert payment_method_id is not None
    if account.payment_method_id == payment_method_id:
        # Adopted already: the browser came back and Stripe's event arrived too.
        return account
    method = client_api.v1.payment_methods.retrieve(payment_method_id)
    if _id_of(method.customer) is None:
        # Real Stripe attaches it when the SetupIntent succeeds; attaching again is refused there.
        method = client_api.v1.payment_methods.attach(
            payment_method_id, params={"customer": account.stripe_customer_id}
        )
    client_api.v1.customers.update(
        account.stripe_customer_id,
        params={"invoice_settings": {"default_payment_method": payment_method_id}},
        options={"idempotency_key": f"seatmeter-client-{client.id}-default-{payment_method_id}"},
    )
    card = getattr(method, "card", None)
    account.payment_method_id = payment_method_id
    account.card_brand = getattr(card, "brand", None)
    account.card_last4 = getattr(card, "last4", None)
    db.session.flush()
    record(
        actor,
        "billing.card_added",
        "billing_account",
        account.id,
        client_id=client.id,
        details={"brand": account.card_brand, "last4": account.card_last4},
    )
    _retry_unpaid(client)
    return account


def _retry_unpaid(client: Client) -> None:
    """With a new card, unpaid invoices and those that could not be charged are tried again."""
    unpaid = list(
        db.session.scalars(
            select(Invoice).where(
                Invoice.client_id == client.id,
                Invoice.status.in_(
                    [InvoiceStatus.OVERDUE, InvoiceStatus.NEEDS_AUTHENTICATION, InvoiceStatus.FINALIZED]
                ),
            )
        )
    )
    for invoice in unpaid:
        if invoice.status is InvoiceStatus.FINALIZED:
            invoice.payment_error = None
    db.session.flush()
    schedule_push(invoice.id for invoice in unpaid)
