"""credit note tax: each credit note line keeps the tax inside what it gives back, and its rate

Existing credit notes are filled from the invoice lines they credit, by the rules the product now
uses when it issues one:
- a line credited in full carries that invoice line's tax, name, rate and inclusive flag;
- a line of a month that netted below zero carries the tax of the invoice line at its position,
  negated, and its amount becomes that line's amount with its added tax (as the note's total already
  was), so a note's lines add up to its amount;
- a credit of an amount on an invoice taxed at one rate carries that rate's part of the amount,
  rounded half up like an inclusive invoice line; on an invoice with several rates (or none), the
  invoice's own proportion of tax, without a rate.
The credit note's tax is the sum of its lines'.

Revision ID: 0016_credit_note_tax
Revises: 0015_placements
Create Date: 2026-11-30
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0016_credit_note_tax"
# The integrator re-chains this one after the other helpers' migrations.
down_revision: str | None = "0015_placements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PPM = 1_000_000


def _divide_half_up(numerator: int, denominator: int) -> int:
    # As metering.rating rounds a line's tax then (halves away from zero); frozen here on purpose.
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return magnitude if numerator >= 0 else -magnitude


def _tax_of_amount(amount: int, invoice_lines: Sequence[Any], invoice: Any) -> dict[str, Any]:
    rates = {(line.tax_name, line.tax_rate_ppm, bool(line.tax_inclusive)) for line in invoice_lines}
    if len(rates) == 1:
        name, rate_ppm, inclusive = next(iter(rates))
        if rate_ppm is not None:
            return {
                "tax_minor": _divide_half_up(amount * rate_ppm, PPM + rate_ppm),
                "tax_name": name,
                "tax_rate_ppm": rate_ppm,
                "tax_inclusive": inclusive,
            }
    tax, total = int(invoice.tax_minor or 0), int(invoice.total_minor)
    if total < 0:
        tax, total = -tax, -total
    taxed = [line for line in invoice_lines if line.tax_rate_ppm is not None]
    return {
        "tax_minor": _divide_half_up(amount * tax, total) if total else 0,
        "tax_name": None,
        "tax_rate_ppm": None,
        "tax_inclusive": bool(taxed) and all(line.tax_inclusive for line in taxed),
    }


def upgrade() -> None:
    with op.batch_alter_table("credit_note_lines") as batch:
        batch.add_column(sa.Column("tax_minor", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("tax_name", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("tax_rate_ppm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tax_inclusive", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("credit_notes") as batch:
        batch.add_column(sa.Column("tax_minor", sa.Integer(), server_default="0", nullable=False))

    connection = op.get_bind()
    notes = connection.execute(sa.text("SELECT id, invoice_id, source FROM credit_notes ORDER BY id")).all()
    for note in notes:
        invoice = connection.execute(
            sa.text("SELECT id, tax_minor, total_minor FROM invoices WHERE id = :id"), {"id": note.invoice_id}
        ).one()
        invoice_lines = connection.execute(
            sa.text(
                "SELECT id, position, amount_minor, tax_minor, tax_name, tax_rate_ppm, tax_inclusive "
                "FROM invoice_lines WHERE invoice_id = :id ORDER BY position"
            ),
            {"id": invoice.id},
        ).all()
        by_id = {line.id: line for line in invoice_lines}
        by_position = {line.position: line for line in invoice_lines}
        note_tax = 0
        lines = connection.execute(
            sa.text(
                "SELECT id, position, invoice_line_id, amount_minor FROM credit_note_lines "
                "WHERE credit_note_id = :id ORDER BY position"
            ),
            {"id": note.id},
        ).all()
        for line in lines:
            values: dict[str, Any] = {"amount_minor": line.amount_minor}
            source = by_id.get(line.invoice_line_id) if line.invoice_line_id is not None else None
            month_line = by_position.get(line.position) if note.source == "month_close" else None
            if source is not None:
                values |= _copied(source, sign=1)
            elif month_line is not None and line.amount_minor == -month_line.amount_minor:
                values |= _copied(month_line, sign=-1)
                if not month_line.tax_inclusive:
                    values["amount_minor"] = -(month_line.amount_minor + month_line.tax_minor)
            else:
                values |= _tax_of_amount(line.amount_minor, invoice_lines, invoice)
            note_tax += values["tax_minor"]
            connection.execute(
                sa.text(
                    "UPDATE credit_note_lines SET amount_minor = :amount_minor, tax_minor = :tax_minor, "
                    "tax_name = :tax_name, tax_rate_ppm = :tax_rate_ppm, tax_inclusive = :tax_inclusive "
                    "WHERE id = :id"
                ),
                {**values, "id": line.id},
            )
        connection.execute(
            sa.text("UPDATE credit_notes SET tax_minor = :tax WHERE id = :id"),
            {"tax": note_tax, "id": note.id},
        )


def _copied(invoice_line: Any, sign: int) -> dict[str, Any]:
    return {
        "tax_minor": sign * int(invoice_line.tax_minor or 0),
        "tax_name": invoice_line.tax_name,
        "tax_rate_ppm": invoice_line.tax_rate_ppm,
        "tax_inclusive": bool(invoice_line.tax_inclusive),
    }


def downgrade() -> None:
    with op.batch_alter_table("credit_notes") as batch:
        batch.drop_column("tax_minor")
    with op.batch_alter_table("credit_note_lines") as batch:
        batch.drop_column("tax_inclusive")
        batch.drop_column("tax_rate_ppm")
        batch.drop_column("tax_name")
        batch.drop_column("tax_minor")
