"""Playing months in tests: send usage events, close, finalize, read invoices and the SPLA report."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from metering.billing.documents import invoice_json
from metering.billing.finalize import finalize_period
from metering.billing.models import Invoice, InvoiceLine
from metering.billing.queries import list_invoices, parse_period
from metering.billing.runs import run_close
from metering.settings import billing_timezone
from metering.spla.services import spla_report
from metering.usage.services import IngestResult, ingest_usage_events
from portal.accounts.models import Client
from portal.audit.services import Actor
from portal.db import db, utcnow
from portal.transactions import task_transaction

TESTS = Actor.system("tests")


class Month:
    """Drive the billing engine the way the edges do (each call commits like a request would)."""

    def events(self, *events: dict[str, Any]) -> IngestResult:
        result = ingest_usage_events(TESTS, list(events))
        db.session.commit()
        return result

    def close(self, period: str):
        return run_close(
            TESTS, parse_period(period), billing_timezone(), utcnow(), transaction=task_transaction
        )

    def finalize(self, period: str) -> int:
        with task_transaction():
            return len(finalize_period(TESTS, parse_period(period), billing_timezone(), utcnow()))

    def invoices(self, period: str | None = None) -> list[dict[str, Any]]:
        db.session.expire_all()
        return [
            invoice_json(invoice)
            for invoice in list_invoices(period=parse_period(period) if period else None, include_drafts=True)
        ]

    def invoice(self, client: str, period: str) -> dict[str, Any]:
        (found,) = [invoice for invoice in self.invoices(period) if invoice["client"] == client]
        return found

    def invoice_row(self, client_id: int, period: str) -> Invoice:
        return db.session.scalars(
            select(Invoice).where(Invoice.client_id == client_id, Invoice.period == period)
        ).one()

    def spla(self, period: str) -> list[tuple[str | None, str, int]]:
        report = spla_report(parse_period(period), billing_timezone())
        return [(line.client, line.sku, line.quantity) for line in report.lines]


def event(
    event_id: str,
    client: str,
    user: str | None,
    product: str,
    action: str,
    at: str,
    quantity: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": event_id, "client": client, "product": product, "action": action, "at": at}
    if user is not None:
        body["user"] = user
    if quantity is not None:
        body["quantity"] = quantity
    return body


def lines_of(invoice: dict[str, Any]) -> list[tuple[str, str, int, int, int]]:
    return [
        (line["product"], line["period"], line["quantity"], line["unit_amount_minor"], line["amount_minor"])
        for line in invoice["lines"]
    ]


# Columns that differ between two writes of the same draft by nature: row ids and when it was written.
NOT_COMPARED = {"id", "invoice_id", "created_at", "built_at"}


def every_column_of(period: str) -> list[tuple[Any, ...]]:
    """Every invoice of period, every column, with all its lines' columns, in client order."""
    db.session.expire_all()
    invoice_columns = [column for column in Invoice.__table__.columns if column.name not in NOT_COMPARED]
    line_columns = [column for column in InvoiceLine.__table__.columns if column.name not in NOT_COMPARED]
    found = []
    for row in db.session.execute(
        select(Invoice.id, Client.ref, *invoice_columns)
        .join(Client, Client.id == Invoice.client_id)
        .where(Invoice.period == period)
        .order_by(Client.ref)
    ):
        lines = db.session.execute(
            select(*line_columns).where(InvoiceLine.invoice_id == row[0]).order_by(InvoiceLine.position)
        ).all()
        found.append((*row[1:], [tuple(line) for line in lines]))
    return found
