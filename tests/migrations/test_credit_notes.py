"""Migration 0014 adds credit notes and payments; every invoice already paid gets its payment."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, text

from portal.cli import alembic_config
from portal.db import build_engine

AT = datetime(2026, 11, 1, tzinfo=UTC)
PAID = datetime(2026, 11, 4, 15, tzinfo=UTC)


def _invoice(
    connection, invoice_id: int, period: str, status: str, total: int, stripe_id: str | None
) -> None:
    connection.execute(
        text(
            "INSERT INTO invoices (id, client_id, period, status, currency, total_minor, starts_at, ends_at, "
            "built_at, created_at, finalized_at, paid_at, stripe_invoice_id, payment_attempts) VALUES "
            "(:id, 1, :period, :status, 'USD', :total, :at, :at, :at, :at, :at, :paid, :stripe, 0)"
        ),
        {
            "id": invoice_id,
            "period": period,
            "status": status,
            "total": total,
            "at": AT,
            "paid": PAID if status == "paid" else None,
            "stripe": stripe_id,
        },
    )


def test_paid_invoices_keep_a_zero_balance_and_the_tables_come_and_go(scratch_databases):
    url = scratch_databases.create("credit_notes")
    config = alembic_config(url)
    command.upgrade(config, "0013")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO clients (id, ref, name, status, created_at) "
                    "VALUES (1, 'acme', 'Acme', 'active', :at)"
                ),
                {"at": AT},
            )
            _invoice(connection, 1, "2026-08", "paid", 3900, "in_1")
            _invoice(connection, 2, "2026-09", "paid", 4700, None)
            _invoice(connection, 3, "2026-10", "finalized", 3900, None)
            _invoice(connection, 4, "2026-07", "paid", 0, None)  # nothing was ever collected

        command.upgrade(config, "0014_credit_notes")
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT invoice_id, method, amount_minor, reference, received_on "
                    "FROM payments ORDER BY invoice_id"
                )
            ).all()
        # A date on PostgreSQL, its ISO text on SQLite.
        assert [(*row[:4], str(row[4])) for row in rows] == [
            (1, "stripe", 3900, "in_1", "2026-11-04"),
            (2, "other", 4700, "", "2026-11-04"),
        ]

        command.downgrade(config, "0013")
        tables = set(inspect(engine).get_table_names())
        assert not {"payments", "credit_notes", "credit_note_lines", "credit_applications"} & tables
    finally:
        engine.dispose()
