"""The month's approved invoices downloaded for QuickBooks, parsed back and checked line by line."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from sqlalchemy import select

from metering.billing.models import Invoice, InvoiceStatus
from portal.db import db
from portal.reseller.exports import QBO_COLUMNS

EXPORTS = "/reseller/exports/2026-10"


def approve_october(client) -> list[Invoice]:
    client.post("/reseller/review/2026-10/approve-all")
    db.session.expire_all()
    return list(db.session.scalars(select(Invoice).where(Invoice.period == "2026-10").order_by(Invoice.id)))


def money(amount_minor: int) -> str:
    return f"{Decimal(amount_minor) / 100:.2f}"


def test_quickbooks_online_csv_has_every_line_of_every_approved_invoice(client, business, staff):
    invoices = approve_october(client)

    response = client.get(f"{EXPORTS}/quickbooks-online.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="seatmeter-2026-10-quickbooks-online.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0].keys()) == QBO_COLUMNS
    expected = [
        (
            invoice.number,
            invoice.client.name,
            line.product.name,
            line.description,
            str(line.quantity),
            money(line.unit_amount_minor),
            money(line.amount_minor),
            "10/01/2026",
        )
        for invoice in invoices
        for line in invoice.lines
    ]
    got = [
        (
            r["InvoiceNo"],
            r["Customer"],
            r["Item(Product/Service)"],
            r["ItemDescription"],
            r["ItemQuantity"],
            r["ItemRate"],
            r["ItemAmount"],
            r["Service Date"],
        )
        for r in rows
    ]
    assert got == expected
    assert got[2][1:3] == ("Bright Smile Dental", "Hosted Desktop")
    assert {r["InvoiceDate"] for r in rows} == {"11/03/2026"}  # approved today
    assert {r["Terms"] for r in rows} == {"Due on receipt"}
    assert sum(Decimal(r["ItemAmount"]) for r in rows) == Decimal("297.00")


def test_quickbooks_desktop_iif_has_one_balanced_transaction_per_invoice(client, business, staff):
    invoices = approve_october(client)

    response = client.get(f"{EXPORTS}/quickbooks-desktop.iif")

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="seatmeter-2026-10-quickbooks-desktop.iif"'
    )
    rows = [line.split("\t") for line in response.get_data(as_text=True).split("\r\n") if line]
    trns_header, spl_header = rows[0], rows[1]
    assert rows[2] == ["!ENDTRNS"]
    header = {name: index for index, name in enumerate(trns_header)}
    split = {name: index for index, name in enumerate(spl_header)}
    transactions: list[tuple[list[str], list[list[str]]]] = []
    for row in rows[3:]:
        if row[0] == "TRNS":
            transactions.append((row, []))
        elif row[0] == "SPL":
            transactions[-1][1].append(row)
        else:
            assert row == ["ENDTRNS"]
    assert len(transactions) == len(invoices) == 3
    for (trns, spls), invoice in zip(transactions, invoices, strict=True):
        assert trns[header["TRNSTYPE"]] == "INVOICE"
        # QuickBooks Desktop keeps 11 characters of a DOCNUM: the number without its dashes fits.
        assert trns[header["DOCNUM"]] == invoice.number.replace("-", "")
        assert trns[header["MEMO"]].startswith(invoice.number)
        assert trns[header["NAME"]] == invoice.client.name
        assert trns[header["AMOUNT"]] == money(invoice.total_minor)
        assert trns[header["DATE"]] == "11/03/2026"
        assert sum(Decimal(spl[split["AMOUNT"]]) for spl in spls) == -Decimal(trns[header["AMOUNT"]])
        assert [
            (spl[split["INVITEM"]], spl[split["QNTY"]], spl[split["PRICE"]], spl[split["AMOUNT"]])
            for spl in spls
        ] == [
            (line.product.name, str(-line.quantity), money(line.unit_amount_minor), money(-line.amount_minor))
            for line in invoice.lines
        ]


def test_drafts_are_not_exported(client, business, staff):
    page = client.get(EXPORTS).get_data(as_text=True)
    assert "3 drafts of October 2026 are not approved yet" in page

    rows = list(
        csv.reader(io.StringIO(client.get(f"{EXPORTS}/quickbooks-online.csv").get_data(as_text=True)))
    )
    assert rows == [list(QBO_COLUMNS)]
    iif = client.get(f"{EXPORTS}/quickbooks-desktop.iif").get_data(as_text=True)
    assert "TRNS\tINVOICE" not in iif


def test_the_exports_page_lists_the_approved_invoices(client, business, staff):
    page = client.get("/reseller/exports/2026-09").get_data(as_text=True)

    assert "Acme Law LLP" in page and "Ledgerline Accountants" in page
    assert "$102.00" in page
    statuses = set(db.session.scalars(select(Invoice.status).where(Invoice.period == "2026-09")))
    assert statuses == {InvoiceStatus.FINALIZED}
    # Without ?period= the newest month with approved invoices.
    assert client.get("/reseller/exports/").headers["Location"] == "/reseller/exports/2026-09"
    assert client.get("/reseller/exports/2026-00/quickbooks-online.csv").status_code == 404


def test_credit_notes_and_payments_are_exported_in_the_month_they_happen(client, business, admin):
    september = db.session.scalars(
        select(Invoice).where(Invoice.period == "2026-09", Invoice.client_id == business.acme.id)
    ).one()
    client.post(
        f"/reseller/invoices/{september.id}/credit-notes",
        data={"amount": "5.00", "reason": "Outage — 3 September", "settlement": "next_invoice"},
    )
    client.post(
        f"/reseller/invoices/{september.id}/payments",
        data={"amount": "20.00", "method": "cheque", "received_on": "2026-11-02", "reference": "Chq 451"},
    )

    iif = client.get("/reseller/exports/2026-11/quickbooks-desktop.iif").data.decode("cp1252")
    rows = [line.split("\t") for line in iif.split("\r\n") if line]
    header = {name: index for index, name in enumerate(rows[0])}
    trns = [row for row in rows if row[0] == "TRNS"]
    assert [(row[header["TRNSTYPE"]], row[header["DOCNUM"]], row[header["AMOUNT"]]) for row in trns] == [
        ("CREDIT MEMO", "CN-0001", "-5.00"),
        ("PAYMENT", "Chq 451", "20.00"),
    ]
    assert "Outage - 3 September" in iif
    memos = list(
        csv.DictReader(
            io.StringIO(client.get("/reseller/exports/2026-11/quickbooks-online-credit-memos.csv").text)
        )
    )
    assert [(m["CreditMemoNo"], m["Customer"], m["ItemAmount"]) for m in memos] == [
        ("CN-0001", "Acme Law LLP", "5.00")
    ]
    payments = list(
        csv.DictReader(
            io.StringIO(client.get("/reseller/exports/2026-11/quickbooks-online-payments.csv").text)
        )
    )
    assert [(p["InvoiceNo"], p["Amount"], p["PaymentMethod"]) for p in payments] == [
        (september.number, "20.00", "Cheque")
    ]
    page = client.get("/reseller/exports/2026-11").get_data(as_text=True)
    assert "1 credit note issued and 1 payment received" in page
    # October's export has neither.
    october = client.get("/reseller/exports/2026-10/quickbooks-desktop.iif").data.decode("cp1252")
    assert "CREDIT MEMO" not in october and "PAYMENT" not in october
