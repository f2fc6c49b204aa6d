"""Payment outcomes and dunning: paid, overdue with an e-mail, suspension after the grace period, resume.

Both the Stripe push (the answer to "pay") and Stripe's webhooks report outcomes; each transition
happens once, so whichever arrives second changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select

from metering.billing import lifecycle
from metering.billing.lifecycle import InvoiceState
from metering.billing.models import BillingAccount, Invoice, InvoiceStatus
from metering.credits.balances import invoice_balance
from metering.credits.models import Payment, PaymentMethod
from metering.periods import BillingPeriod
from metering.settings import billing_timezone, payment_retry_days
from portal.accounts.models import Client, ClientStatus, Reseller, Role, User
from portal.audit.services import Actor, record
from portal.db import db
from portal.money import format_amount
from portal.notifications.services import public_link, send_email_after_commit

log = logging.getLogger("seatmeter.billing")
DUNNING_ACTOR = Actor.system("billing (dunning)")


def billing_account(client_id: int) -> BillingAccount:
    account = db.session.scalars(select(BillingAccount).where(BillingAccount.client_id == client_id)).first()
    if account is None:
        account = BillingAccount(client_id=client_id)
        db.session.add(account)
        db.session.flush()
    return account


def billing_contacts(client: Client) -> list[str]:
    """Who hears about the client's bills: its billing e-mail, else its administrators."""
    if client.billing_email:
        return [client.billing_email]
    return list(
        db.session.scalars(
            select(User.email).where(
                User.client_id == client.id, User.role == Role.CLIENT_ADMIN, User.active.is_(True)
            )
        )
    )


def reseller_contacts() -> list[str]:
    """Who at the reseller hears about refunds and disputes: its administrators, else its support
    address."""
    admins = list(
        db.session.scalars(
            select(User.email)
            .where(User.role == Role.RESELLER_ADMIN, User.active.is_(True))
            .order_by(User.id)
        )
    )
    if admins:
        return admins
    support = db.session.scalars(select(Reseller.support_email)).first()
    return [support] if support else []


def mark_paid(actor: Actor, invoice: Invoice, now: datetime) -> bool:
    """Stripe collected the invoice: its balance is recorded as a Stripe payment, and it is paid.

    Resumes the client if dunning suspended it and nothing else is overdue.
    """
    # Paid already (the push and the webhook both report it), or a draft Stripe never saw.
    if not lifecycle.allows(invoice, InvoiceState.PAID):
        return False
    owed = invoice_balance(invoice).balance_minor
    if owed > 0:
        db.session.add(
            Payment(
                invoice_id=invoice.id,
                client_id=invoice.client_id,
                method=PaymentMethod.STRIPE,
                amount_minor=owed,
                currency=invoice.currency,
                reference=invoice.stripe_invoice_id or "",
                received_on=now.astimezone(billing_timezone()).date(),
                recorded_at=now,
                recorded_by=actor.label,
            )
        )
    _settle(actor, invoice, now, {"paid_minor": owed, "method": PaymentMethod.STRIPE.value})
    return True


def settle_if_paid_off(actor: Actor, invoice: Invoice, now: datetime, how: str) -> bool:
    """A payment or a credit brought the invoice's balance to zero: it is paid. False otherwise."""
    if not lifecycle.allows(invoice, InvoiceState.PAID) or invoice.status is InvoiceStatus.DRAFT:
        return False
    if invoice_balance(invoice).balance_minor > 0:
        return False
    _settle(actor, invoice, now, {"settled_by": how})
    return True


def _settle(actor: Actor, invoice: Invoice, now: datetime, details: dict[str, object]) -> None:
    lifecycle.mark_paid(invoice, now)
    invoice.next_payment_retry_at = None
    db.session.flush()
    record(
        actor,
        "invoice.paid",
        "invoice",
        invoice.id,
        client_id=invoice.client_id,
        details={"total_minor": invoice.total_minor, "currency": invoice.currency, **details},
    )
    _resume_if_settled(actor, invoice.client)


def next_retry_after(first_failure: datetime, now: datetime) -> datetime | None:
    """When to charge an overdue invoice again: the first retry day (BILLING_RETRY_DAYS after its
    first failure) still to come, or None once the last retry has been made."""
    for days in payment_retry_days():
        when = first_failure + timedelta(days=days)
        if when > now:
            return when
    return None


def mark_payment_failed(
    actor: Actor, invoice: Invoice, reason: str, now: datetime, *, stripe_message: str | None = None
) -> bool:
    """A payment attempt failed: the invoice is overdue, its next retry is scheduled, and the client's
    billing contacts are told once, in plain words (``reason``). Stripe's own text
    (``stripe_message``) goes to the reseller's audit log only."""
    if not lifecycle.allows(invoice, InvoiceState.OVERDUE):
        return False
    newly_overdue = lifecycle.mark_overdue(invoice, reason, now)
    assert invoice.overdue_since is not None
    invoice.next_payment_retry_at = next_retry_after(invoice.overdue_since, now)
    db.session.flush()
    record(
        actor,
        "invoice.payment_failed",
        "invoice",
        invoice.id,
        client_id=invoice.client_id,
        details={
            "reason": reason,
            "stripe_message": stripe_message,
            "total_minor": invoice.total_minor,
            "balance_minor": invoice_balance(invoice).balance_minor,
            "attempt": invoice.payment_attempts,
            "next_retry_at": invoice.next_payment_retry_at.isoformat()
            if invoice.next_payment_retry_at
            else None,
        },
    )
    if not newly_overdue:
        # The client heard about it at the first failure; the latest reason is kept for the pages.
        return False
    client = invoice.client
    # What is still owed, after partial payments and credit notes, not the invoice's total.
    amount = format_amount(invoice_balance(invoice).balance_minor, invoice.currency)
    month = BillingPeriod.parse(invoice.period).label
    retry = (
        f"We will try to charge your card again on {invoice.next_payment_retry_at:%d %B %Y}.\n\n"
        if invoice.next_payment_retry_at
        else ""
    )
    body = (
        f"Hello,\n\nWe could not collect {amount} for your {month} invoice {invoice.number}: {reason}.\n\n"
        f"{retry}"
        f"Please add or update your card: {public_link('billing.index')}\n\n"
        "If the invoice stays unpaid, your services will be suspended until it is paid.\n"
    )
    for address in billing_contacts(client):
        send_email_after_commit(address, f"Payment failed for invoice {invoice.number}", body)
    return True


def mark_needs_authentication(
    actor: Actor,
    invoice: Invoice,
    now: datetime,
    *,
    hosted_invoice_url: str | None = None,
    stripe_message: str | None = None,
) -> bool:
    """The bank asks the client to confirm the payment (3-D Secure / SCA): the client's billing
    contacts get the link to Stripe's page where they confirm and pay. Told once per request."""
    if not lifecycle.allows(invoice, InvoiceState.NEEDS_AUTHENTICATION):
        return False
    if hosted_invoice_url:
        invoice.stripe_hosted_invoice_url = hosted_invoice_url
    newly_asked = lifecycle.mark_needs_authentication(invoice, now)
    # Charging again off-session would only be asked to authenticate again: the client acts now.
    invoice.next_payment_retry_at = None
    db.session.flush()
    if not newly_asked:
        return False
    record(
        actor,
        "invoice.payment_needs_authentication",
        "invoice",
        invoice.id,
        client_id=invoice.client_id,
        details={"stripe_message": stripe_message, "total_minor": invoice.total_minor},
    )
    amount = format_amount(invoice.total_minor, invoice.currency)
    month = BillingPeriod.parse(invoice.period).label
    link = invoice.stripe_hosted_invoice_url or public_link("billing.index")
    body = (
        f"Hello,\n\nYour bank asks you to confirm the payment of {amount} for your {month} invoice "
        f"{invoice.number} before it can go through.\n\n"
        f"Please confirm it here: {link}\n\n"
        "Until it is confirmed the invoice stays unpaid, and if it stays unpaid your services will be "
        "suspended until it is paid.\n"
    )
    for address in billing_contacts(invoice.client):
        send_email_after_commit(address, f"Please confirm the payment of invoice {invoice.number}", body)
    return True


def mark_voided(actor: Actor, invoice: Invoice, now: datetime) -> bool:
    """Stripe voided the invoice: nothing is owed on it, so it is never chased, and a client that
    was suspended for it alone is resumed."""
    if not lifecycle.allows(invoice, InvoiceState.VOID):
        return False
    lifecycle.void(invoice, now)
    invoice.next_payment_retry_at = None
    db.session.flush()
    record(
        actor,
        "invoice.voided",
        "invoice",
        invoice.id,
        client_id=invoice.client_id,
        details={"total_minor": invoice.total_minor, "currency": invoice.currency},
    )
    _resume_if_settled(actor, invoice.client)
    return True


def mark_uncollectible(actor: Actor, invoice: Invoice, now: datetime) -> bool:
    """Written off in Stripe: no more retries or dunning for it. A suspension stays until it is paid
    (Stripe still takes a late payment) or the reseller resumes the client."""
    if not lifecycle.allows(invoice, InvoiceState.UNCOLLECTIBLE):
        return False
    lifecycle.mark_uncollectible(invoice, now)
    invoice.next_payment_retry_at = None
    db.session.flush()
    record(
        actor,
        "invoice.marked_uncollectible",
        "invoice",
        invoice.id,
        client_id=invoice.client_id,
        details={"total_minor": invoice.total_minor, "currency": invoice.currency},
    )
    return True


def _resume_if_settled(actor: Actor, client: Client) -> None:
    # Imported here, not at the top: provisioning imports metering when it loads (its lifecycle
    # writes the ledger), so metering may reach provisioning only once both are loaded.
    from provisioning import resume_client

    account = db.session.scalars(select(BillingAccount).where(BillingAccount.client_id == client.id)).first()
    if account is None or account.suspended_for_nonpayment_at is None:
        return
    if unsettled_count(client.id):
        return
    resume_client(actor, client)
    account.suspended_for_nonpayment_at = None
    db.session.flush()


# Unpaid and chased: a client with one of these past the grace period is suspended.
CHASED_STATUSES = (InvoiceStatus.OVERDUE, InvoiceStatus.NEEDS_AUTHENTICATION)
# Unpaid at all: a client suspended for non-payment is resumed only when none is left.
UNSETTLED_STATUSES = (*CHASED_STATUSES, InvoiceStatus.UNCOLLECTIBLE)


def unsettled_count(client_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count(Invoice.id)).where(
                Invoice.client_id == client_id, Invoice.status.in_(UNSETTLED_STATUSES)
            )
        )
        or 0
    )


def clients_past_grace(now: datetime, grace: timedelta) -> list[int]:
    """Active clients with an invoice unpaid for longer than ``grace`` and no payment retry left.

    Overdue and waiting-for-authentication invoices count; void and written-off ones do not.
    """
    return list(
        db.session.scalars(
            select(Invoice.client_id)
            .join(Client, Client.id == Invoice.client_id)
            .where(
                Invoice.status.in_(CHASED_STATUSES),
                Invoice.overdue_since <= now - grace,
                Invoice.next_payment_retry_at.is_(None),
                Client.status == ClientStatus.ACTIVE,
            )
            .group_by(Invoice.client_id)
            .order_by(Invoice.client_id)
        )
    )


def suspend_for_nonpayment(client_id: int, now: datetime, grace: timedelta) -> bool:
    """Suspend the client's seats through provisioning if it is still past the grace period."""
    # Imported here, not at the top: provisioning imports metering when it loads (its lifecycle
    # writes the ledger), so metering may reach provisioning only once both are loaded.
    from provisioning import suspend_client

    client = db.session.get(Client, client_id, with_for_update=True)
    if (
        client is None
        or client.status is not ClientStatus.ACTIVE
        or client_id not in clients_past_grace(now, grace)
    ):
        return False
    oldest = db.session.scalars(
        select(Invoice)
        .where(Invoice.client_id == client_id, Invoice.status.in_(CHASED_STATUSES))
        .order_by(Invoice.overdue_since)
    ).first()
    assert oldest is not None
    owed = format_amount(invoice_balance(oldest).balance_minor, oldest.currency)
    reason = f"Invoice {oldest.number} unpaid since {oldest.overdue_since:%Y-%m-%d} ({owed} due)"
    suspend_client(DUNNING_ACTOR, client, reason)
    billing_account(client_id).suspended_for_nonpayment_at = now
    db.session.flush()
    log.info("client %s suspended for non-payment: %s", client.ref, reason)
    return True
