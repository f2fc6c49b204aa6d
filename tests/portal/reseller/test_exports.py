"""QuickBooks exports, parsed back and checked line by line."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from decimal import Decimal

from portal.reseller.exports import (
    QBO_COLUMNS,
    QBO_CREDIT_MEMO_COLUMNS,
    QBO_PAYMENT_COLUMNS,
    ExportCreditNote,
    ExportInvoice,
    ExportLine,
    ExportPayment,
    iif_docnum,
    iif_item_name,
    quickbooks_desktop_iif,
    quickbooks_desktop_iif_bytes,
    quickbooks_online_credit_memos_csv,
    quickbooks_online_csv,
    quickbooks_online_invoices,
    quickbooks_online_payments_csv,
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


# --- what QuickBooks Desktop and QuickBooks Online accept ----------------------------------------------


def _iif_rows(body: bytes) -> list[list[str]]:
    return [line.split("\t") for line in body.decode("cp1252").split("\r\n") if line]


def _transactions(rows: list[list[str]]) -> list[tuple[list[str], list[list[str]]]]:
    found: list[tuple[list[str], list[list[str]]]] = []
    for row in rows[3:]:
        if row[0] == "TRNS":
            found.append((row, []))
        elif row[0] == "SPL":
            found[-1][1].append(row)
        else:
            assert row == ["ENDTRNS"]
    return found


POLISH = ExportInvoice(
    number="SM-2026-10-000123",
    customer="Kancelaria Łódź — Kraków Sp. z o.o.",
    invoice_date=date(2026, 11, 1),
    due_date=date(2026, 11, 15),
    memo="Seatmeter October 2026 — Łódź",
    lines=(
        ExportLine(
            "Microsoft 365 Business Premium (hosted, colo)",
            "Pawe\u0142\u2019s desktop \u2014 1 user \u201cKrak\u00f3w\u201d \u20ac",
            1,
            3900,
            3900,
            OCT,
        ),
        ExportLine("Microsoft 365 Business Premium (hosted, AWS)", "Другой", 1, 100, 100, OCT),
        ExportLine("Backup: Workstation", "Ωμέγα backup", 1, 500, 500, OCT),
    ),
)
CREDIT = ExportCreditNote(
    number="CN-0007",
    customer="Kancelaria Łódź — Kraków Sp. z o.o.",
    credit_date=date(2026, 11, 20),
    memo="Credit note for invoice SM-2026-10-000123: outage",
    lines=(ExportLine("Credit", "Credit: outage", 1, 1500, 1500, OCT),),
)
PAYMENT = ExportPayment(
    customer="Kancelaria Łódź — Kraków Sp. z o.o.",
    received_on=date(2026, 11, 21),
    amount_minor=2900,
    method="Bank transfer",
    reference="SEPA-2026-11-21-000451",
    invoice_number="SM-2026-10-000123",
)


def test_the_iif_file_is_windows_1252_within_quickbooks_desktops_limits():
    body = quickbooks_desktop_iif_bytes([POLISH], [CREDIT], [PAYMENT])
    text = body.decode("cp1252")  # QuickBooks Desktop reads it as Windows-1252: every byte decodes

    assert "?" not in text
    # 'Ł' -> 'L', 'ź' -> 'z', em dash -> '-'; 'ó' is in Windows-1252 and stays.
    assert "Kancelaria Lódz - Kraków Sp. z o.o." in text
    rows = _iif_rows(body)
    header = {name: index for index, name in enumerate(rows[0])}
    split = {name: index for index, name in enumerate(rows[1])}
    transactions = _transactions(rows)
    assert [trns[header["TRNSTYPE"]] for trns, _ in transactions] == ["INVOICE", "CREDIT MEMO", "PAYMENT"]
    for trns, spls in transactions:
        assert len(trns[header["DOCNUM"]]) <= 11
        assert sum(Decimal(spl[split["AMOUNT"]]) for spl in spls) == -Decimal(trns[header["AMOUNT"]])
        for spl in spls:
            assert len(spl[split["INVITEM"]]) <= 31
    (invoice, invoice_spl), (credit, credit_spl), (payment, payment_spl) = transactions
    assert invoice[header["DOCNUM"]] == "02610000123"  # the last 11 of SM202610000123
    assert invoice[header["MEMO"]].startswith("SM-2026-10-000123")
    descriptions = [spl[split["MEMO"]] for spl in invoice_spl]
    assert descriptions == ['Pawel\'s desktop - 1 user "Kraków" €', "Drugoi", "Omega backup"]
    items = [spl[split["INVITEM"]] for spl in invoice_spl]
    # Two long names that begin alike stay two items; a colon would make a sub-item.
    assert len(set(items)) == 3
    assert items[2] == "Backup- Workstation"
    assert items[0] == iif_item_name("Microsoft 365 Business Premium (hosted, colo)")
    # A credit memo gives back: the receivable goes down, income lines are debits.
    assert (credit[header["DOCNUM"]], credit[header["AMOUNT"]]) == ("CN-0007", "-15.00")
    assert [spl[split["AMOUNT"]] for spl in credit_spl] == ["15.00"]
    # A payment moves money from the receivable into Undeposited Funds.
    assert (payment[header["ACCNT"]], payment[header["AMOUNT"]]) == ("Undeposited Funds", "29.00")
    assert payment[header["PAYMETH"]] == "Bank transfer"
    assert payment_spl[0][split["ACCNT"]] == "Accounts Receivable"
    assert payment_spl[0][split["AMOUNT"]] == "-29.00"
    assert "SM-2026-10-000123" in payment[header["MEMO"]]


def test_short_codes_are_stable_and_numbers_that_fit_are_kept():
    assert iif_docnum("CN-0001") == "CN-0001"
    assert iif_docnum("2026-10-00042") == "20261000042"
    assert iif_item_name("Hosted Desktop") == "Hosted Desktop"
    long_name = "Hosted Exchange Mailbox (50 GB, archiving, colo)"
    assert iif_item_name(long_name) == iif_item_name(long_name)
    assert len(iif_item_name(long_name)) <= 31
    assert iif_item_name(long_name).startswith("Hosted Exchange Mailbox~")
    numbers = {iif_docnum(f"SM-2026-10-{n:06d}") for n in range(1, 2000)}
    assert len(numbers) == 1999  # no two invoices of a month share a DOCNUM


def _invoice(n: int) -> ExportInvoice:
    return ExportInvoice(
        number=f"2026-10-{n:05d}",
        customer=f"Client {n}",
        invoice_date=date(2026, 11, 1),
        due_date=date(2026, 11, 1),
        memo="Seatmeter October 2026",
        lines=(
            ExportLine("Hosted Desktop", "Hosted Desktop", 2, 3900, 7800, OCT),
            ExportLine("Hosted Exchange Mailbox", "Mailbox", 1, 800, 800, OCT),
        ),
    )


def test_quickbooks_online_gets_at_most_100_invoices_a_file():
    hundred = [_invoice(n) for n in range(1, 101)]
    single = quickbooks_online_invoices(hundred, "oct")
    assert (single.filename, single.mimetype) == ("oct.csv", "text/csv")
    rows = list(csv.DictReader(io.StringIO(single.body.decode("utf-8"))))
    assert len({row["InvoiceNo"] for row in rows}) == 100

    many = [_invoice(n) for n in range(1, 251)]
    bundle = quickbooks_online_invoices(many, "oct")
    assert (bundle.filename, bundle.mimetype) == ("oct.zip", "application/zip")
    with zipfile.ZipFile(io.BytesIO(bundle.body)) as archive:
        names = archive.namelist()
        files = [list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8")))) for name in names]
    assert names == ["oct-01-of-03.csv", "oct-02-of-03.csv", "oct-03-of-03.csv"]
    per_file = [{row["InvoiceNo"] for row in rows} for rows in files]
    assert [len(numbers) for numbers in per_file] == [100, 100, 50]
    # Every invoice is in exactly one file, with all its lines.
    assert set().union(*per_file) == {invoice.number for invoice in many}
    assert sum(len(rows) for rows in files) == 500


def test_quickbooks_online_credit_memos_and_payments_parse_back():
    memos = list(csv.DictReader(io.StringIO(quickbooks_online_credit_memos_csv([CREDIT]))))
    assert tuple(memos[0].keys()) == QBO_CREDIT_MEMO_COLUMNS
    assert [(m["CreditMemoNo"], m["CreditMemoDate"], m["ItemAmount"]) for m in memos] == [
        ("CN-0007", "11/20/2026", "15.00")
    ]
    payments = list(csv.DictReader(io.StringIO(quickbooks_online_payments_csv([PAYMENT]))))
    assert tuple(payments[0].keys()) == QBO_PAYMENT_COLUMNS
    assert [(p["PaymentDate"], p["InvoiceNo"], p["Amount"], p["ReferenceNo"]) for p in payments] == [
        ("11/21/2026", "SM-2026-10-000123", "29.00", "SEPA-2026-11-21-000451")
    ]


# --- tax: what the client owes includes it, the income excludes it ------------------------------------

TAXED = (
    ExportInvoice(
        number="SM-2026-10-0003",
        customer="Kancelaria Łódź",
        invoice_date=date(2026, 11, 1),
        due_date=date(2026, 11, 15),
        memo="Seatmeter October 2026",
        lines=(
            # VAT 23 % added on top: 117.00 + 26.91 and 24.00 + 5.52.
            ExportLine("Hosted Desktop", "3 users", 3, 3900, 11700, OCT, 2691, "VAT 23%", 230_000, False),
            ExportLine("Mailbox", "3 mailboxes", 3, 800, 2400, OCT, 552, "VAT 23%", 230_000, False),
        ),
    ),
    ExportInvoice(
        number="SM-2026-10-0004",
        customer="Athens Dental",
        invoice_date=date(2026, 11, 1),
        due_date=date(2026, 11, 15),
        memo="Seatmeter October 2026",
        # VAT 24 % inside the price: of 100.00, 19.35 is tax (100 x 0.24 / 1.24, rounded per line).
        lines=(ExportLine("Hosted Desktop", "1 user", 1, 10000, 10000, OCT, 1935, "VAT 24%", 240_000, True),),
    ),
)


def test_quickbooks_online_invoices_total_what_the_client_owes_including_tax():
    rows = list(csv.DictReader(io.StringIO(quickbooks_online_csv(TAXED))))

    totals: dict[str, Decimal] = {}
    income: dict[str, Decimal] = {}
    for row in rows:
        amount, tax = Decimal(row["ItemAmount"]), Decimal(row["ItemTaxAmount"])
        totals[row["InvoiceNo"]] = totals.get(row["InvoiceNo"], Decimal(0)) + amount + tax
        income[row["InvoiceNo"]] = income.get(row["InvoiceNo"], Decimal(0)) + amount
    assert totals == {"SM-2026-10-0003": Decimal("173.43"), "SM-2026-10-0004": Decimal("100.00")}
    assert income == {"SM-2026-10-0003": Decimal("141.00"), "SM-2026-10-0004": Decimal("80.65")}
    assert [row["ItemTaxCode"] for row in rows] == ["VAT 23%", "VAT 23%", "VAT 24%"]
    # The inclusive line is exported without its tax; its rate says so to the cent.
    assert (rows[2]["ItemQuantity"], rows[2]["ItemRate"]) == ("1", "80.65")
    assert [invoice.total_minor for invoice in TAXED] == [17343, 10000]


def test_untaxed_lines_carry_a_zero_tax_and_no_code():
    rows = list(csv.DictReader(io.StringIO(quickbooks_online_csv(INVOICES))))

    assert {(row["ItemTaxCode"], row["ItemTaxAmount"]) for row in rows} == {("", "0.00")}


def test_quickbooks_desktop_invoices_have_a_sales_tax_line_and_income_without_tax():
    rows = _iif_rows(quickbooks_desktop_iif_bytes(TAXED))
    header = {name: index for index, name in enumerate(rows[0])}
    split = {name: index for index, name in enumerate(rows[1])}

    (added, added_spl), (included, included_spl) = _transactions(rows)
    assert added[header["AMOUNT"]] == "173.43"  # what the client owes
    assert included[header["AMOUNT"]] == "100.00"
    for trns, spl in ((added, added_spl), (included, included_spl)):
        assert sum(Decimal(row[split["AMOUNT"]]) for row in spl) == -Decimal(trns[header["AMOUNT"]])
    assert [
        (row[split["ACCNT"]], row[split["AMOUNT"]], row[split["PRICE"]], row[split["INVITEM"]])
        for row in added_spl
    ] == [
        ("Hosted Services Income", "-117.00", "39.00", "Hosted Desktop"),
        ("Hosted Services Income", "-24.00", "8.00", "Mailbox"),
        ("Sales Tax Payable", "-32.43", "23%", "VAT 23%"),
    ]
    assert [(row[split["ACCNT"]], row[split["AMOUNT"]]) for row in included_spl] == [
        ("Hosted Services Income", "-80.65"),
        ("Sales Tax Payable", "-19.35"),
    ]
