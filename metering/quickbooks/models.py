"""The QuickBooks Online connection and what each local document became there.

One installation is one reseller, so there is at most one connection (one QuickBooks company). Its
OAuth tokens are sealed (portal.sealing) and only opened by the sync.

A :class:`QuickBooksRecord` is one local thing (client, product, invoice, credit note, payment) and
its QuickBooks object: the object's Id and the SyncToken Seatmeter last saw, the ``requestid`` the
write was sent with (derived from the document and the content sent, so a repeat after a lost answer
or a killed worker is answered by QuickBooks with the object already made), and its state. Written only
by :mod:`metering.quickbooks.sync`, :mod:`~metering.quickbooks.references` and
:mod:`~metering.quickbooks.connection`.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.accounts.models import str_enum
from portal.db import Base, utcnow


class ConnectionState(enum.StrEnum):
    CONNECTED = "connected"
    RECONNECT = "reconnect"  # QuickBooks refused to renew access: the reseller must connect again


class QuickBooksConnection(Base):
    __tablename__ = "quickbooks_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[ConnectionState] = mapped_column(str_enum(ConnectionState))
    access_token_sealed: Mapped[str] = mapped_column(Text)
    refresh_token_sealed: Mapped[str] = mapped_column(Text)
    access_expires_at: Mapped[datetime]
    refresh_expires_at: Mapped[datetime | None]
    # Why the connection needs the reseller (state reconnect), in plain words.
    problem: Mapped[str | None] = mapped_column(Text)
    # The income account every product's Service item posts to, picked by the reseller.
    income_account_id: Mapped[str | None] = mapped_column(String(32))
    income_account_name: Mapped[str | None] = mapped_column(String(200))
    # Invoices of this month ("YYYY-MM") and later are sent; earlier ones stay with the file exports.
    first_period: Mapped[str] = mapped_column(String(7))
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)
    connected_by: Mapped[str] = mapped_column(String(300))
    last_run_at: Mapped[datetime | None]


class RecordKind(enum.StrEnum):
    CUSTOMER = "customer"
    ITEM = "item"
    INVOICE = "invoice"
    CREDIT_MEMO = "credit_memo"
    PAYMENT = "payment"

    @property
    def entity(self) -> str:
        return {
            RecordKind.CUSTOMER: "Customer",
            RecordKind.ITEM: "Item",
            RecordKind.INVOICE: "Invoice",
            RecordKind.CREDIT_MEMO: "CreditMemo",
            RecordKind.PAYMENT: "Payment",
        }[self]


class SyncStatus(enum.StrEnum):
    PENDING = "pending"  # not in QuickBooks yet, or waiting for a retry
    DONE = "done"
    FAILED = "failed"  # QuickBooks refused it; the reason says why
    CONFLICT = "conflict"  # changed in QuickBooks since Seatmeter wrote it: left as it is there


# The item credit notes' lines post to when they credit an amount rather than a product's line.
CREDIT_ITEM_LOCAL_ID = 0


class QuickBooksRecord(Base):
    __tablename__ = "quickbooks_records"
    __table_args__ = (UniqueConstraint("kind", "local_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RecordKind] = mapped_column(str_enum(RecordKind))
    # The client's, product's, invoice's, credit note's or payment's id
    # (CREDIT_ITEM_LOCAL_ID: the credit item).
    local_id: Mapped[int]
    # What the sync page calls it ("Invoice 2026-10-00001", "Acme Law LLP").
    label: Mapped[str] = mapped_column(String(300))
    status: Mapped[SyncStatus] = mapped_column(str_enum(SyncStatus), default=SyncStatus.PENDING)
    qbo_id: Mapped[str | None] = mapped_column(String(32))
    sync_token: Mapped[str | None] = mapped_column(String(32))
    # A digest of what was sent: a change of it locally is a new version of the document.
    content_digest: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
