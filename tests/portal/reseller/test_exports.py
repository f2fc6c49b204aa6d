"""QuickBooks exports, parsed back and checked line by line."""

from __future__ import annotations

import csv
import io
from datetime import date

from portal.reseller.exports import (
    QBO_COLUMNS,
    ExportInvoice,
    ExportLine,
    quickbooks_desktop_iif,
    quickbooks_online_csv,
)

OCT = date(2026, 10, 1)
INVOICES = (
    ExportInvoice(
        number="SM-2026-10-0001",
        customer="Acme Law LLP",
        invoice_date=date(2026, 11, 1),
        due_date=date(2026, 11, 15),
        memo="Seatmeter October 2026",
        lines=(
            ExportLine("Hosted Desktop", "Hosted Desktop — 3 users, October 2026", 3, 3900, 11700, OCT),
            ExportLine("Hosted Exchange Mailbox", "Exchange\tmailboxes\n(3)", 3, 800, 2400, OCT),
        ),
    ),
    ExportInvoice(
        number="SM-2026-10-0002",
        customer="Bright Smile Dental, P.C.",
        invoice_date=date(2026, 11, 1),
        due_date=date(2026, 11, 15),
        memo="Seatmeter October 2026",
        lines=(ExportLine("Adjustment", "Late usage for September 2026", 1, -4900, -4900, date(2026, 9, 1)),),
    ),
)


def test_quickbooks_online_csv_has_one_row_per_line():
    rows = list(csv.DictReader(io.StringIO(quickbooks_online_csv(INVOICES))))

    assert tuple(rows[0].keys()) == QBO_COLUMNS
    assert [
        (r["InvoiceNo"], r["Customer"], r["ItemQuantity"], r["ItemRate"], r["ItemAmount"]) for r in rows
    ] == [
        ("SM-2026-10-0001", "Acme Law LLP", "3", "39.00", "117.00"),
        ("SM-2026-10-0001", "Acme Law LLP", "3", "8.00", "24.00"),
        ("SM-2026-10-0002", "Bright Smile Dental, P.C.", "1", "-49.00", "-49.00"),
    ]
    assert rows[0]["InvoiceDate"] == "11/01/2026"
    assert rows[0]["Service Date"] == "10/01/2026"
    assert rows[2]["Service Date"] == "09/01/2026"


def test_quickbooks_desktop_iif_balances_every_transaction():
    lines = quickbooks_desktop_iif(INVOICES).split("\r\n")
    rows = [line.split("\t") for line in lines if line]

    assert rows[0][:4] == ["!TRNS", "TRNSTYPE", "DATE", "ACCNT"]
    assert rows[1][0] == "!SPL"
    assert rows[2] == ["!ENDTRNS"]
    header = {name: index for index, name in enumerate(rows[0])}
    split = {name: index for index, name in enumerate(rows[1])}
    transactions, current = [], None
    for row in rows[3:]:
        if row[0] == "TRNS":
            current = {"trns": row, "spl": []}
        elif row[0] == "SPL":
            current["spl"].append(row)
        else:
            assert row == ["ENDTRNS"]
            transactions.append(current)
    assert len(transactions) == 2
    for transaction in transactions:
        trns_amount = float(transaction["trns"][header["AMOUNT"]])
        spl_total = sum(float(spl[split["AMOUNT"]]) for spl in transaction["spl"])
        assert round(trns_amount + spl_total, 2) == 0  # every transaction balances
    first = transactions[0]
    assert first["trns"][header["NAME"]] == "Acme Law LLP"
    assert first["trns"][header["AMOUNT"]] == "141.00"
    assert first["trns"][header["DATE"]] == "11/01/2026"
    assert [
        (s[split["AMOUNT"]], s[split["QNTY"]], s[split["PRICE"]], s[split["INVITEM"]]) for s in first["spl"]
    ] == [
        ("-117.00", "-3", "39.00", "Hosted Desktop"),
        ("-24.00", "-3", "8.00", "Hosted Exchange Mailbox"),
    ]
    # A tab or newline inside a description must not break the row.
    assert all(len(spl) == len(rows[1]) for spl in first["spl"])
    assert first["spl"][1][split["MEMO"]] == "Exchange mailboxes (3)"
