"""Migration 0016: existing credit notes get the tax of the invoice lines they credit."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Connection, inspect, text

from portal.cli import alembic_config
from portal.db import build_engine

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _invoice(connection: Connection, invoice_id: int, period: str, total: int, tax: int) -> None:
    connection.execute(
        text(
            "INSERT INTO invoices (id, client_id, period, status, currency, total_minor, subtotal_minor, "
            "tax_minor, starts_at, ends_at, built_at, created_at, finalized_at, payment_attempts) VALUES "
            "(:id, 1, :period, 'finalized', 'EUR', :total, :total, :tax, :at, :at, :at, :at, :at, 0)"
        ),
        {"id": invoice_id, "period": period, "total": total, "tax": tax, "at": AT},
    )


def _line(
    connection: Connection,
    line_id: int,
    invoice_id: int,
    position: int,
    amount: int,
    tax: int,
    rate: int | None,
    inclusive: bool = False,
) -> None:
    connection.execute(
        text(
            "INSERT INTO invoice_lines (id, invoice_id, position, kind, product_id, period, quantity, "
            "unit_amount_minor, amount_minor, currency, description, tax_minor, tax_name, tax_rate_ppm, "
            "tax_inclusive) VALUES (:id, :invoice, :position, 'regular', 1, '2026-10', 1, :amount, :amount, "
            "'EUR', 'Hosted Desktop', :tax, :name, :rate, :inclusive)"
        ),
        {
            "id": line_id,
            "invoice": invoice_id,
            "position": position,
            "amount": amount,
            "tax": tax,
            "name": "VAT" if rate is not None else None,
            "rate": rate,
            "inclusive": inclusive,
        },
    )


def _note(connection: Connection, note_id: int, invoice_id: int, source: str, amount: int) -> None:
    connection.execute(
        text(
            "INSERT INTO credit_notes (id, sequence, client_id, invoice_id, source, status, settlement, "
            "currency, amount_minor, reduces_invoice_minor, refund_minor, carry_minor, reason, issued_at, "
            "issued_by) VALUES (:id, :id, 1, :invoice, :source, 'settled', 'next_invoice', 'EUR', :amount, "
            "0, 0, :amount, 'Outage', :at, 'tests')"
        ),
        {"id": note_id, "invoice": invoice_id, "source": source, "amount": amount, "at": AT},
    )


def _note_line(
    connection: Connection, line_id: int, note_id: int, position: int, invoice_line: int | None, amount: int
) -> None:
    connection.execute(
        text(
            "INSERT INTO credit_note_lines (id, credit_note_id, position, invoice_line_id, description, "
            "amount_minor) VALUES (:id, :note, :position, :invoice_line, 'Credit', :amount)"
        ),
        {
            "id": line_id,
            "note": note_id,
            "position": position,
            "invoice_line": invoice_line,
            "amount": amount,
        },
    )


def _populate(connection: Connection) -> None:
    connection.execute(
        text(
            "INSERT INTO clients (id, ref, name, status, created_at) "
            "VALUES (1, 'acme', 'Acme', 'active', :at)"
        ),
        {"at": AT},
    )
    connection.execute(
        text(
            "INSERT INTO products (id, code, name, description, kind, price_minor, currency, active, "
            "billing, unit, updated_at) VALUES (1, 'desktop', 'Hosted Desktop', '', 'desktop', 3900, 'EUR', "
            ":yes, 'per_user', 'user', :at)"
        ),
        {"yes": True, "at": AT},
    )
    # Invoice 1: VAT 23 % added, two lines (39.00 + 8.97, 8.00 + 1.84).
    _invoice(connection, 1, "2026-10", 5881, 1081)
    _line(connection, 11, 1, 0, 3900, 897, 230_000)
    _line(connection, 12, 1, 1, 800, 184, 230_000)
    # Invoice 2: a line at 23 % added and an untaxed one: 100.00 + 23.00 and 54.00, 23.00 of 177.00 tax.
    _invoice(connection, 2, "2026-09", 17700, 2300)
    _line(connection, 21, 2, 0, 10000, 2300, 230_000)
    _line(connection, 22, 2, 1, 5400, 0, None)
    # Invoice 3: a month that netted below zero, -39.00 - 8.97 VAT.
    _invoice(connection, 3, "2026-11", -4797, -897)
    _line(connection, 31, 3, 0, -3900, -897, 230_000)

    _note(connection, 1, 1, "reseller", 984)  # the mailbox line credited in full
    _note_line(connection, 1, 1, 0, 12, 984)
    _note(connection, 2, 1, "reseller", 1000)  # an amount on a one-rate invoice
    _note_line(connection, 2, 2, 0, None, 1000)
    _note(connection, 3, 2, "reseller", 1770)  # an amount on an invoice of several rates
    _note_line(connection, 3, 3, 0, None, 1770)
    _note(connection, 4, 3, "month_close", 4797)  # its line as the month close wrote it: without VAT
    _note_line(connection, 4, 4, 0, None, 3900)


def test_existing_credit_notes_get_the_tax_of_what_they_credit(scratch_databases):
    url = scratch_databases.create("credit_note_tax")
    config = alembic_config(url)
    command.upgrade(config, "0015_placements")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            _populate(connection)

        command.upgrade(config, "0016_credit_note_tax")
        with engine.connect() as connection:
            lines = connection.execute(
                text(
                    "SELECT credit_note_id, amount_minor, tax_minor, tax_name, tax_rate_ppm, tax_inclusive "
                    "FROM credit_note_lines ORDER BY id"
                )
            ).all()
            notes = connection.execute(
                text("SELECT id, amount_minor, tax_minor FROM credit_notes ORDER BY id")
            ).all()
        assert [(*row[:5], bool(row[5])) for row in lines] == [
            (1, 984, 184, "VAT", 230_000, False),  # the invoice line's own tax
            (2, 1000, 187, "VAT", 230_000, False),  # 10.00 x 0.23 / 1.23, rounded half up
            (3, 1770, 230, None, None, False),  # 17.70 x 23.00 / 177.00
            (4, 4797, 897, "VAT", 230_000, False),  # the line with its VAT: the lines add up to the note
        ]
        assert [tuple(row) for row in notes] == [
            (1, 984, 184),
            (2, 1000, 187),
            (3, 1770, 230),
            (4, 4797, 897),
        ]

        command.downgrade(config, "0015_placements")
        columns = {column["name"] for column in inspect(engine).get_columns("credit_note_lines")}
        assert "tax_minor" not in columns
    finally:
        engine.dispose()
