"""What each notice says and to whom: built from an outbox event, read by the sending task.

Clients read plain words (a failed seat says their provider has been told); the technical reason of
a failure goes only to the reseller's people. Every notice carries the reseller's name from its
profile, as plain text and as HTML.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import render_template
from sqlalchemy import select

from metering import BillingPeriod, Invoice, invoice_pdf
from portal.accounts.models import Client, Reseller, Role, User
from portal.db import db
from portal.money import format_amount
from portal.notices.models import NoticeKind
from portal.notifications.services import public_link
from portal.orders.models import Order, Seat
from portal.webhooks_out.models import WebhookEvent


@dataclass(frozen=True)
class Attachment:
    filename: str
    mimetype: str
    content: bytes


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    to: str
    subject: str
    paragraphs: tuple[str, ...]
    link: str | None = None
    link_label: str = "Open the portal"
    attachments: tuple[Attachment, ...] = field(default=())


@dataclass(frozen=True)
class Rendered:
    text: str
    html: str


def reseller_profile() -> Reseller | None:
    return db.session.scalars(select(Reseller).order_by(Reseller.id).limit(1)).first()


def render(notice: Notice, reseller: Reseller | None) -> Rendered:
    name = reseller.name if reseller is not None else "Your provider"
    contact = (
        [value for value in (reseller.support_email, reseller.support_phone) if value] if reseller else []
    )
    lines = [*notice.paragraphs]
    if notice.link:
        lines.append(f"{notice.link_label}: {notice.link}")
    signature = "\n".join([name, " · ".join(contact)] if contact else [name])
    text = "Hello,\n\n" + "\n\n".join(lines) + "\n\n-- \n" + signature + "\n"
    html = render_template(
        "notices/email.html", notice=notice, reseller_name=name, contact=" · ".join(contact)
    )
    return Rendered(text=text, html=html)


def _unique(addresses: Iterable[str | None]) -> list[str]:
    seen: dict[str, str] = {}
    for address in addresses:
        if address and address.strip() and address.strip().lower() not in seen:
            seen[address.strip().lower()] = address.strip()
    return list(seen.values())


def client_admins(client: Client) -> list[str]:
    return _unique(
        db.session.scalars(
            select(User.email)
            .where(User.client_id == client.id, User.role == Role.CLIENT_ADMIN, User.active.is_(True))
            .order_by(User.id)
        )
    )


def billing_recipients(client: Client) -> list[str]:
    """The client's billing address and its copies; its administrators when it has none."""
    extra = (client.extra_billing_emails or "").splitlines()
    if client.billing_email or any(line.strip() for line in extra):
        return _unique([client.billing_email, *extra])
    return client_admins(client)


def reseller_people() -> list[str]:
    """The reseller's active admins and staff; its support address when it has nobody yet."""
    people = _unique(
        db.session.scalars(
            select(User.email)
            .where(User.role.in_([Role.RESELLER_ADMIN, Role.RESELLER_STAFF]), User.active.is_(True))
            .order_by(User.id)
        )
    )
    reseller = reseller_profile()
    if not people and reseller is not None and reseller.support_email:
        return [reseller.support_email]
    return people


def _client(data: dict[str, Any]) -> Client | None:
    return db.session.scalars(select(Client).where(Client.ref == data.get("client_ref"))).first()


def _seat_words(seat: Seat) -> str:
    who = f" for {seat.end_user.name}" if seat.end_user is not None else ""
    return f"{seat.product.name}{who}"


def _seat_notices(event: WebhookEvent, data: dict[str, Any]) -> list[Notice]:
    seat = db.session.get(Seat, data.get("seat_id"))
    if seat is None:
        return []
    link = public_link("seats.detail", seat_id=seat.id)
    what = _seat_words(seat)
    if event.type == "seat.active":
        return [
            Notice(
                NoticeKind.SEAT_READY,
                to,
                f"Ready: {what}",
                (f"{what} is ready to use.",),
                link=link,
                link_label="See the seat",
            )
            for to in client_admins(seat.client)
        ]
    notices = [
        Notice(
            NoticeKind.SEAT_FAILED,
            to,
            f"Not set up yet: {what}",
            (
                f"{what} could not be set up yet.",
                "Your provider has been told and is looking into it; you do not need to do anything.",
            ),
            link=link,
            link_label="See the seat",
        )
        for to in client_admins(seat.client)
    ]
    reason = data.get("error") or seat.last_error or "No reason was recorded."
    notices += [
        Notice(
            NoticeKind.SEAT_FAILED_DETAILS,
            to,
            f"Seat #{seat.id} failed ({seat.client.name}): {seat.product.name}",
            (
                f"Seat #{seat.id} of {seat.client.name} ({what}) failed and waits for a person.",
                f"Reason: {reason}",
                "Fix the cause, then retry the seat from the failed queue.",
            ),
        )
        for to in reseller_people()
    ]
    return notices


def _order_notices(data: dict[str, Any]) -> list[Notice]:
    order = db.session.get(Order, data.get("order_id"))
    if order is None:
        return []
    seats = "1 seat" if order.quantity == 1 else f"{order.quantity} seats"
    price = format_amount(order.unit_price_minor, order.currency)
    return [
        Notice(
            NoticeKind.ORDER_PLACED,
            to,
            f"Order placed: {order.product.name}, {seats}",
            (
                f"Your order of {order.product.name}, {seats} at {price} a month each, is placed.",
                "Each seat is being set up now.",
            ),
            link=public_link("seats.index"),
            link_label="See your seats",
        )
        for to in client_admins(order.client)
    ]


def _invoice_notices(data: dict[str, Any], reseller: Reseller | None) -> list[Notice]:
    invoice = db.session.get(Invoice, data.get("invoice_id"))
    if invoice is None:
        return []
    recipients = billing_recipients(invoice.client)
    if not recipients:
        return []
    pdf = Attachment(f"invoice-{invoice.number}.pdf", "application/pdf", invoice_pdf(invoice, reseller))
    total = format_amount(invoice.total_minor, invoice.currency)
    return [
        Notice(
            NoticeKind.INVOICE_ISSUED,
            to,
            f"Invoice {invoice.number} for {invoice.period}: {total}",
            (
                f"Your invoice {invoice.number} for {invoice.period} is ready: {total}.",
                "The invoice is attached as a PDF.",
            ),
            link=public_link("billing.invoice", invoice_id=invoice.id),
            link_label="See the invoice",
            attachments=(pdf,),
        )
        for to in recipients
    ]


def _bills_ready_notices(data: dict[str, Any]) -> list[Notice]:
    period = str(data.get("period", ""))
    try:
        label = BillingPeriod.parse(period).label
    except ValueError:
        return []
    drafts = int(data.get("drafts", 0))
    bills = "1 draft bill waits" if drafts == 1 else f"{drafts} draft bills wait"
    return [
        Notice(
            NoticeKind.BILLS_READY,
            to,
            f"Bills for {label} are ready for review",
            (
                f"{label} is closed: {bills} for your review.",
                "Nothing is sent to a client until you approve it.",
            ),
            link=public_link("review.month", period=period),
            link_label="Review the bills",
        )
        for to in reseller_people()
    ]


def _client_notices(event: WebhookEvent, data: dict[str, Any]) -> list[Notice]:
    client = _client(data)
    if client is None:
        return []
    recipients = _unique([*client_admins(client), *billing_recipients(client)])
    if event.type == "client.suspended":
        kind, subject = NoticeKind.SUSPENDED, "Your services are suspended"
        paragraphs: tuple[str, ...] = (
            f"The services of {client.name} are suspended: your seats stay set up but cannot be used.",
            "Please contact your provider to have them resumed; an unpaid invoice, once paid, resumes "
            "them by itself.",
        )
    else:
        kind, subject = NoticeKind.RESUMED, "Your services are back"
        paragraphs = (f"The services of {client.name} are active again.",)
    return [Notice(kind, to, subject, paragraphs, link=public_link("home.index")) for to in recipients]


def notices_for(event: WebhookEvent) -> list[Notice]:
    """Every notice an outbox event means, one per recipient and kind."""
    data: dict[str, Any] = event.payload.get("data", {})
    if event.type == "order.placed":
        return _order_notices(data)
    if event.type in ("seat.active", "seat.failed"):
        return _seat_notices(event, data)
    if event.type == "period.closed":
        return _bills_ready_notices(data)
    if event.type == "invoice.finalized":
        return _invoice_notices(data, reseller_profile())
    if event.type in ("client.suspended", "client.resumed"):
        return _client_notices(event, data)
    return []
