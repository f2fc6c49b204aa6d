"""A client's draft for the month as columns: what the close writes, compares and records.

Shared by the close of one client (:func:`metering.billing.close.close_client`) and of a batch
(:mod:`metering.billing.close_batch`), so both write the same rows and decide "unchanged" alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from metering.billing.models import LineKind
from metering.rating import InvoiceLineDraft, taxed_totals
from portal.audit.services import Actor, record
from portal.db import db

if TYPE_CHECKING:
    from metering.billing.close import ClosePlan

# The columns of a line that make up what the client is billed: equal for every line, a draft is unchanged.
SIGNATURE_COLUMNS = (
    "kind",
    "product_id",
    "period",
    "quantity",
    "unit_amount_minor",
    "amount_minor",
    "currency",
    "description",
    "tax_minor",
    "tax_rate_id",
    "tax_rate_ppm",
    "tax_inclusive",
)


@dataclass(frozen=True)
class DraftContent:
    """What a client's draft holds for the month: the invoice's columns and its lines' columns, in order."""

    invoice: dict[str, Any]
    lines: list[dict[str, Any]]

    @property
    def signature(self) -> list[tuple[object, ...]]:
        return [tuple(line[column] for column in SIGNATURE_COLUMNS) for line in self.lines]


def stored_signature(lines: Iterable[Any]) -> list[tuple[object, ...]]:
    """:attr:`DraftContent.signature` of lines already stored (ORM lines or rows, in position order)."""
    return [tuple(getattr(line, column) for column in SIGNATURE_COLUMNS) for line in lines]


def draft_content(
    plan: ClosePlan, client_id: int, rated: list[tuple[LineKind, InvoiceLineDraft]]
) -> DraftContent:
    """The draft's columns for these rated lines (not empty), taxed with the client's rule."""
    drafts = [line for _kind, line in rated]
    tax = plan.taxes.get(client_id)
    totals = taxed_totals(drafts, tax.rule if tax else None)
    product_ids = plan.catalog.product_ids
    lines = [
        {
            "position": position,
            "kind": kind,
            "product_id": product_ids[line.product],
            "period": line.period,
            "quantity": line.quantity,
            "unit_amount_minor": line.unit_amount_minor,
            "amount_minor": line.amount_minor,
            "currency": line.currency,
            "description": line.description,
            "tax_minor": line_tax,
            "tax_rate_id": tax.tax_rate_id if tax else None,
            "tax_name": tax.rule.name if tax else None,
            "tax_rate_ppm": tax.rule.rate_ppm if tax else None,
            "tax_inclusive": tax.rule.inclusive if tax else False,
        }
        for position, ((kind, line), line_tax) in enumerate(zip(rated, totals.line_taxes, strict=True))
    ]
    invoice = {
        "currency": drafts[0].currency,
        "total_minor": totals.total_minor,
        "subtotal_minor": totals.subtotal_minor,
        "tax_minor": totals.tax_minor,
        "starts_at": plan.start,
        "ends_at": plan.stop,
        "built_at": plan.built_at,
    }
    return DraftContent(invoice=invoice, lines=lines)


def relax_commit_durability() -> None:
    """Let this transaction's commit skip waiting for the disk (PostgreSQL only).

    A draft is derived data that any re-run rebuilds, so its commit need not wait (about 4 ms a
    transaction otherwise). The month counts as closed only through record_close_completed, whose
    transaction commits durably again.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def record_draft_removed(actor: Actor, plan: ClosePlan, client_id: int, invoice_id: int) -> None:
    record(
        actor,
        "invoice.draft_removed",
        "invoice",
        invoice_id,
        client_id=client_id,
        details={"period": str(plan.period)},
    )


def record_draft_rebuilt(
    actor: Actor, plan: ClosePlan, client_id: int, invoice_id: int, content: DraftContent
) -> None:
    # A first draft is covered by the run's own "billing.period_closed" record; a draft that
    # changed between runs is worth its own line when someone asks why the bill moved.
    record(
        actor,
        "invoice.draft_rebuilt",
        "invoice",
        invoice_id,
        client_id=client_id,
        details={
            "period": str(plan.period),
            "total_minor": content.invoice["total_minor"],
            "currency": content.invoice["currency"],
            "lines": len(content.lines),
        },
    )


__all__ = [
    "SIGNATURE_COLUMNS",
    "DraftContent",
    "draft_content",
    "record_draft_rebuilt",
    "record_draft_removed",
    "relax_commit_durability",
    "stored_signature",
]
