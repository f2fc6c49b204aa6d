"""An invoice as a document a business can read: what the client's page and the PDF both show.

:func:`invoice_document` gathers the seller (the reseller's profile), the buyer (the client's billing
details), the dates in the billing time zone, the taxes per rate, what is paid and still due, how it
will be paid, and the per-person detail, once, so the HTML page and the PDF cannot disagree.
:func:`state_label` is the state in a client's words: Due, Paid, Overdue (never "Finalized").
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from metering.billing.models import BillingAccount, Invoice, InvoiceStatus
from metering.billing.queries import billing_account_of
from metering.billing.review_rows import LineDetail, line_details
from metering.credits.balances import InvoiceBalance, balances_for, invoice_balance
from metering.settings import billing_timezone
from metering.tax.models import format_rate
from portal.accounts.models import Client, Reseller
from portal.db import utcnow
from portal.money import format_amount

DEFAULT_SELLER_NAME = "Your managed-service provider"

# Statuses added later (credited) read as their own word; these are the ones said differently.
_STATE_WORDS = {
    InvoiceStatus.DRAFT: "Draft",
    InvoiceStatus.PAID: "Paid",
    InvoiceStatus.OVERDUE: "Overdue",
    InvoiceStatus.NEEDS_AUTHENTICATION: "Needs authentication",
    InvoiceStatus.VOID: "Void",
    InvoiceStatus.UNCOLLECTIBLE: "Written off",
}


def state_label(invoice: Invoice, today: date) -> str:
    """Due, Paid, Overdue, Void, Credited, Draft: the invoice's state as the client reads it.

    A finalized invoice is Due until its due date has passed, then Overdue, even before a
    payment attempt failed.
    """
    if invoice.status is InvoiceStatus.FINALIZED:
        return "Overdue" if invoice.due_on is not None and today > invoice.due_on else "Due"
    return _STATE_WORDS.get(invoice.status, invoice.status.value.replace("_", " ").capitalize())


def _plain(label: str) -> str:
    return label.lower().replace(" ", "_")


# Every value plain_state can give: a finalized invoice reads as due or overdue, the rest by status.
PLAIN_STATES: tuple[str, ...] = tuple(
    dict.fromkeys(
        ["due", "overdue"]
        + [
            _plain(_STATE_WORDS.get(status, status.value.replace("_", " ").capitalize()))
            for status in InvoiceStatus
            if status is not InvoiceStatus.FINALIZED
        ]
    )
)


def plain_state(invoice: Invoice, today: date) -> str:
    """The client's word for the state as an API value: due, overdue, paid, void, draft, ..."""
    return _plain(state_label(invoice, today))


def balance_due(invoice: Invoice, balance: InvoiceBalance) -> int:
    # A void invoice is owed by nobody: its balance is nil whatever its total.
    return 0 if invoice.status is InvoiceStatus.VOID else balance.balance_minor


def invoice_json(
    invoice: Invoice, today: date | None = None, balance: InvoiceBalance | None = None
) -> dict[str, Any]:
    """The API's representation of an invoice, exactly the documented fields.

    ``status`` is the stored state (``finalized`` ...); ``state`` the one the client reads on the
    invoice (``due`` until the due date has passed, then ``overdue``). ``total_minor`` is
    ``subtotal_minor`` plus the exclusive taxes; ``tax_minor`` is every tax, included or added.
    """
    today = today or utcnow().astimezone(billing_timezone()).date()
    balance = balance or invoice_balance(invoice)
    return {
        "id": invoice.id,
        "client": invoice.client.ref,
        "period": invoice.period,
        "status": invoice.status.value,
        "state": plain_state(invoice, today),
        "currency": invoice.currency,
        "subtotal_minor": invoice.subtotal_minor,
        "tax_minor": invoice.tax_minor,
        "total_minor": invoice.total_minor,
        "balance_minor": balance_due(invoice, balance),
        "due_on": invoice.due_on.isoformat() if invoice.due_on else None,
        "lines": [
            {
                "product": line.product.code,
                "period": line.period,
                "quantity": line.quantity,
                "unit_amount_minor": line.unit_amount_minor,
                "amount_minor": line.amount_minor,
                "tax_minor": line.tax_minor,
            }
            for line in invoice.lines
        ],
    }


def invoices_json(invoices: Iterable[Invoice], today: date | None = None) -> list[dict[str, Any]]:
    """Several invoices, their balances read in one go (four queries whatever their number)."""
    chosen: Sequence[Invoice] = list(invoices)
    balances = balances_for(chosen)
    return [invoice_json(invoice, today, balances[invoice.id]) for invoice in chosen]


def is_open(invoice: Invoice) -> bool:
    """Money is still owed on it: the client may pay it now."""
    return invoice.status in (
        InvoiceStatus.FINALIZED,
        InvoiceStatus.OVERDUE,
        InvoiceStatus.NEEDS_AUTHENTICATION,
    )


@dataclass(frozen=True)
class TaxSummary:
    label: str  # "VAT 23 % (PL)"
    inclusive: bool
    amount_minor: int


@dataclass(frozen=True)
class Party:
    name: str
    address_lines: tuple[str, ...]
    tax_id: str | None
    contact: tuple[str, ...]


@dataclass(frozen=True)
class InvoiceDocument:
    invoice: Invoice
    seller: Party
    buyer: Party
    logo_data_uri: str | None
    title: str  # "Invoice" or "Draft invoice"
    state: str
    issued_on: date | None
    due_on: date | None
    service_from: date
    service_to: date  # the last day of the service period (inclusive)
    taxes: tuple[TaxSummary, ...]
    # Payments received, credit notes against it and earlier credit used on it (metering.credits).
    balance: InvoiceBalance
    amount_paid_minor: int
    balance_due_minor: int
    how_to_pay: str
    bank_details: str | None
    details: list[LineDetail]

    def money(self, amount_minor: int) -> str:
        return format_amount(amount_minor, self.invoice.currency)


def _lines(text: str | None) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


def _seller(reseller: Reseller | None) -> Party:
    if reseller is None:
        return Party(DEFAULT_SELLER_NAME, (), None, ())
    contact = tuple(value for value in (reseller.support_email, reseller.support_phone) if value)
    return Party(reseller.name, _lines(reseller.address), reseller.tax_id, contact)


def _buyer(client: Client) -> Party:
    contact = tuple(value for value in (client.billing_email, *_lines(client.extra_billing_emails)) if value)
    return Party(client.name, _lines(client.billing_address), client.tax_id, contact)


def _party_json(party: Party) -> dict[str, Any]:
    return {
        "name": party.name,
        "address_lines": list(party.address_lines),
        "tax_id": party.tax_id,
        "contact": list(party.contact),
    }


def _party_from(data: dict[str, Any]) -> Party:
    return Party(
        str(data.get("name") or ""),
        tuple(data.get("address_lines") or ()),
        data.get("tax_id"),
        tuple(data.get("contact") or ()),
    )


def document_parties(invoice: Invoice, reseller: Reseller | None) -> tuple[Party, Party]:
    """Seller and buyer: as they were when the invoice was issued, or as they are now on a draft."""
    kept = invoice.parties
    if kept:
        return _party_from(kept["seller"]), _party_from(kept["buyer"])
    return _seller(reseller), _buyer(invoice.client)


def parties_snapshot(invoice: Invoice, reseller: Reseller | None) -> dict[str, Any]:
    """The seller, the buyer and the bank details as they stand now, kept on the invoice as it is issued."""
    return {
        "seller": _party_json(_seller(reseller)),
        "buyer": _party_json(_buyer(invoice.client)),
        "bank_details": reseller.payment_instructions if reseller is not None else None,
    }


def logo_data_uri(reseller: Reseller | None) -> str | None:
    if reseller is None or not reseller.logo or not reseller.logo_mimetype:
        return None
    return f"data:{reseller.logo_mimetype};base64,{base64.b64encode(reseller.logo).decode('ascii')}"


def tax_summaries(invoice: Invoice) -> tuple[TaxSummary, ...]:
    """One row per rate on the invoice, in the order the lines first use it."""
    sums: dict[tuple[str, int, bool], int] = {}
    for line in invoice.lines:
        if line.tax_name is None or line.tax_rate_ppm is None:
            continue
        key = (line.tax_name, line.tax_rate_ppm, line.tax_inclusive)
        sums[key] = sums.get(key, 0) + line.tax_minor
    return tuple(
        TaxSummary(f"{name} {format_rate(rate)} %" + (" included" if inclusive else ""), inclusive, amount)
        for (name, rate, inclusive), amount in sums.items()
    )


def _how_to_pay(
    invoice: Invoice, account: BillingAccount | None, reseller: Reseller | None, tz: ZoneInfo
) -> tuple[str, str | None]:
    """A sentence on how the invoice is (or was) paid, and the bank details to print with it."""
    if invoice.parties is not None:
        bank = invoice.parties.get("bank_details") or None
    else:
        bank = reseller.payment_instructions if reseller is not None else None
    if invoice.status is InvoiceStatus.PAID:
        paid = invoice.paid_at.astimezone(tz).date() if invoice.paid_at else None
        return (f"Paid on {paid:%d %B %Y}. Thank you." if paid else "Paid. Thank you."), None
    if invoice.status is InvoiceStatus.VOID:
        return "This invoice was cancelled: nothing is owed on it.", None
    if invoice.status is InvoiceStatus.NEEDS_AUTHENTICATION:
        return "Your bank asks you to confirm the payment: use the link on your billing page.", None
    card = account is not None and account.card_last4
    if card and invoice.status is InvoiceStatus.FINALIZED:
        assert account is not None
        brand = (account.card_brand or "card").capitalize()
        charge_on = (invoice.finalized_at or invoice.built_at).astimezone(tz).date()
        return f"Your {brand} ending {account.card_last4} will be charged on {charge_on:%d %B %Y}.", None
    if card and invoice.status is InvoiceStatus.OVERDUE:
        assert account is not None
        text = f"The charge to your card ending {account.card_last4} did not go through. "
        return text + ("Please pay by bank transfer:" if bank else "Please update your card."), bank
    if bank:
        return "Please pay by bank transfer by the due date:", bank
    return "Your provider will tell you how to pay.", None


def invoice_document(
    invoice: Invoice, reseller: Reseller | None, tz: ZoneInfo, now: datetime, with_details: bool = True
) -> InvoiceDocument:
    client = invoice.client
    # An issued invoice prints the parties as they were when it was issued; a draft, as they are now.
    seller, buyer = document_parties(invoice, reseller)
    first, stop = invoice.starts_at, invoice.ends_at
    how, bank = _how_to_pay(invoice, billing_account_of(client), reseller, tz)
    balance = invoice_balance(invoice)
    owed = balance_due(invoice, balance)
    return InvoiceDocument(
        invoice=invoice,
        seller=seller,
        buyer=buyer,
        logo_data_uri=logo_data_uri(reseller),
        title="Draft invoice" if invoice.status is InvoiceStatus.DRAFT else "Invoice",
        state=state_label(invoice, now.astimezone(tz).date()),
        issued_on=invoice.finalized_at.astimezone(tz).date() if invoice.finalized_at else None,
        due_on=invoice.due_on,
        service_from=first.astimezone(tz).date(),
        service_to=(stop.astimezone(tz) - timedelta(seconds=1)).date(),
        taxes=tax_summaries(invoice),
        balance=balance,
        amount_paid_minor=balance.paid_minor,
        balance_due_minor=owed,
        how_to_pay=how,
        bank_details=bank,
        details=line_details(invoice, tz) if with_details else [],
    )
