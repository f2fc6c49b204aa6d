"""Migration 0014_invoice_documents: existing resellers, clients and invoices are carried over."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic import command
from sqlalchemy import Connection, text

from portal.cli import alembic_config
from portal.db import build_engine

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _populate(connection: Connection) -> None:
    """As revision 0013 stored them: the reseller, a client, a finalized invoice and a draft."""
    connection.execute(
        text(
            "INSERT INTO resellers (id, name, support_email, currency, created_at) "
            "VALUES (1, 'Northwind', 'help@northwind.example', 'USD', :at)"
        ),
        {"at": AT},
    )
    connection.execute(
        text(
            "INSERT INTO clients (id, ref, name, status, billing_email, created_at) "
            "VALUES (1, 'acme', 'Acme', 'active', 'ap@acme.example', :at)"
        ),
        {"at": AT},
    )
    connection.execute(
        text(
            "INSERT INTO invoices (id, client_id, period, status, currency, total_minor, starts_at, ends_at, "
            "built_at, created_at, finalized_at, payment_attempts) VALUES (:id, 1, :period, :status, 'USD', "
            ":total, :at, :at, :at, :at, :finalized, 0)"
        ),
        [
            {"id": 1, "period": "2026-10", "status": "finalized", "total": 4700, "at": AT, "finalized": AT},
            {"id": 2, "period": "2026-11", "status": "draft", "total": 3900, "at": AT, "finalized": None},
        ],
    )
    connection.execute(
        text(
            "INSERT INTO products (id, code, name, description, kind, price_minor, currency, active, "
            "billing, unit, updated_at) VALUES (1, 'desktop', 'Desktop', '', 'desktop', 3900, 'USD', :yes, "
            "'per_user', 'user', :at)"
        ),
        {"yes": True, "at": AT},
    )
    connection.execute(
        text(
            "INSERT INTO invoice_lines (id, invoice_id, position, kind, product_id, period, quantity, "
            "unit_amount_minor, amount_minor, currency, description) VALUES (1, 1, 0, 'regular', 1, "
            "'2026-10', 1, 3900, 3900, 'USD', 'Desktop')"
        )
    )


def test_invoices_keep_their_totals_and_get_a_due_date_from_the_default_terms(scratch_databases):
    url = scratch_databases.create("invoice_documents")
    config = alembic_config(url)
    command.upgrade(config, "0013")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            _populate(connection)

        command.upgrade(config, "0014_invoice_documents")
        with engine.connect() as connection:
            invoices = connection.execute(
                text(
                    "SELECT id, total_minor, subtotal_minor, tax_minor, due_on, number_prefix, parties "
                    "FROM invoices ORDER BY id"
                )
            ).all()
            reseller = connection.execute(
                text("SELECT name, invoice_prefix, payment_terms_days, logo FROM resellers")
            ).one()
            client = connection.execute(
                text("SELECT billing_email, billing_address, tax_id FROM clients")
            ).one()
        due = invoices[0].due_on
        assert (date.fromisoformat(due) if isinstance(due, str) else due) == date(2026, 11, 16)
        assert [tuple(row)[:4] + tuple(row)[5:] for row in invoices] == [
            (1, 4700, 4700, 0, "", None),
            (2, 3900, 3900, 0, "", None),
        ]
        assert invoices[1].due_on is None
        assert tuple(reseller) == ("Northwind", "", 14, None)
        assert tuple(client) == ("ap@acme.example", None, None)
        with engine.connect() as connection:
            line = connection.execute(
                text("SELECT amount_minor, tax_minor, tax_name FROM invoice_lines")
            ).one()
        assert tuple(line) == (3900, 0, None)

        command.downgrade(config, "0013")
        with engine.connect() as connection:
            assert connection.execute(
                text("SELECT total_minor FROM invoices ORDER BY id")
            ).scalars().all() == [
                4700,
                3900,
            ]
    finally:
        engine.dispose()
