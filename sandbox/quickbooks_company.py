"""The company data of the QuickBooks Online stand-in (``sandbox/quickbooks_server.py``): Intuit's objects,
faults, SyncToken locking, ``requestid`` answers and the query language, without the HTTP around them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

ENTITIES = {
    "customer": "Customer",
    "item": "Item",
    "invoice": "Invoice",
    "creditmemo": "CreditMemo",
    "payment": "Payment",
    "account": "Account",
}
SEED_ACCOUNTS = [
    ("1", "Services", "Income", "ServiceFeeIncome"),
    ("2", "Sales of Product Income", "Income", "SalesOfProductIncome"),
    ("3", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    ("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
]
QUERY_RE = re.compile(
    r"^\s*select\s+\*\s+from\s+(?P<entity>\w+)"
    r"(?:\s+where\s+(?P<where>.+?))?"
    r"(?:\s+startposition\s+(?P<start>\d+))?"
    r"(?:\s+maxresults\s+(?P<max>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
CONDITION_RE = re.compile(r"^\s*(?P<field>[\w.]+)\s*=\s*'(?P<value>(?:[^'\\]|\\.)*)'\s*$")


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000-00:00")


class Fault(Exception):
    def __init__(
        self, code: str, message: str, detail: str, status: int = 400, kind: str = "ValidationFault"
    ):
        super().__init__(message)
        self.code, self.message, self.detail, self.status, self.kind = code, message, detail, status, kind

    def body(self) -> dict[str, Any]:
        error = {"Message": self.message, "Detail": self.detail, "code": self.code, "element": ""}
        return {"Fault": {"Error": [error], "type": self.kind}, "time": now_text()}


def money(value: Any, field: str) -> Decimal:
    # Intuit's JSON reader takes numbers and numeric strings alike (python-quickbooks sends Decimals as
    # strings).
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise Fault("2010", "Request has invalid or unsupported property", f"{field}: {value!r}") from None


def number(value: Decimal) -> float | int:
    # Answers carry plain JSON numbers, as Intuit's do.
    return int(value) if value == value.to_integral_value() else float(value)


class Company:
    def __init__(self, realm: str) -> None:
        self.realm = realm
        self.objects: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES.values()}
        self.next_id = 100
        self.answers: dict[str, tuple[int, dict[str, Any]]] = {}  # requestid -> the first answer
        for ident, name, kind, detail in SEED_ACCOUNTS:
            self.objects["Account"][ident] = {
                "Id": ident,
                "Name": name,
                "FullyQualifiedName": name,
                "AccountType": kind,
                "AccountSubType": detail,
                "Active": True,
                "SyncToken": "0",
                "MetaData": {"CreateTime": now_text(), "LastUpdatedTime": now_text()},
            }

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def ref(self, entity: str, ref: Any, field: str) -> dict[str, Any]:
        ident = ref.get("value") if isinstance(ref, dict) else None
        found = self.objects[entity].get(str(ident))
        if found is None:
            raise Fault(
                "2500", "Invalid Reference Id", f"Invalid Reference Id : {field} {ident!r} does not exist"
            )
        return found

    @staticmethod
    def required(body: dict[str, Any], *names: str) -> None:
        for name in names:
            if body.get(name) in (None, "", []):
                raise Fault(
                    "2020",
                    "Required param missing, need to supply the required value for the API",
                    f"Required parameter {name} is missing in the request",
                )

    def write(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        if entity == "Account":
            raise Fault("6000", "A business validation error has occurred", "Accounts are read-only here")
        if body.get("Id"):
            return self.update(entity, body)
        obj = {k: v for k, v in body.items() if k not in ("Id", "SyncToken", "sparse", "MetaData")}
        self.validate(entity, obj, None)
        obj["Id"] = self.new_id()
        obj["SyncToken"] = "0"
        obj["MetaData"] = {"CreateTime": now_text(), "LastUpdatedTime": now_text()}
        self.complete(entity, obj)
        self.objects[entity][obj["Id"]] = obj
        if entity == "Payment":
            self.apply_payment(obj, +1)
        return obj

    def update(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self.objects[entity].get(str(body["Id"]))
        if current is None:
            raise Fault(
                "610",
                "Object Not Found",
                f"Object Not Found : Something you're trying to use has been deleted ({entity} {body['Id']})",
            )
        if str(body.get("SyncToken")) != current["SyncToken"]:
            raise Fault(
                "5010",
                "Stale Object Error",
                "Stale Object Error : You and another user were working on the same thing at the same time. "
                "The other user finished before you did, so your work was not saved.",
            )
        if body.get("sparse"):
            merged = {
                **current,
                **{k: v for k, v in body.items() if k not in ("sparse", "SyncToken", "MetaData")},
            }
        else:
            merged = {k: v for k, v in body.items() if k not in ("sparse", "MetaData")}
        self.validate(entity, merged, current["Id"])
        if entity == "Payment":
            self.apply_payment(current, -1)
        merged["Id"] = current["Id"]
        merged["SyncToken"] = str(int(current["SyncToken"]) + 1)
        merged["MetaData"] = {**current["MetaData"], "LastUpdatedTime": now_text()}
        self.complete(entity, merged)
        self.objects[entity][current["Id"]] = merged
        if entity == "Payment":
            self.apply_payment(merged, +1)
        return merged

    def validate(self, entity: str, obj: dict[str, Any], own_id: str | None) -> None:
        if entity == "Customer":
            self.required(obj, "DisplayName")
            if any(
                c["DisplayName"] == obj["DisplayName"] and c["Id"] != own_id
                for c in self.objects["Customer"].values()
            ):
                raise Fault(
                    "6240",
                    "Duplicate Name Exists Error",
                    f"The name supplied already exists. : {obj['DisplayName']}",
                )
        elif entity == "Item":
            self.required(obj, "Name")
            if any(i["Name"] == obj["Name"] and i["Id"] != own_id for i in self.objects["Item"].values()):
                raise Fault(
                    "6240",
                    "Duplicate Name Exists Error",
                    f"The name supplied already exists. : {obj['Name']}",
                )
            if obj.get("Type", "Service") in ("Service", "NonInventory"):
                self.required(obj, "IncomeAccountRef")
                self.ref("Account", obj["IncomeAccountRef"], "IncomeAccountRef")
        elif entity in ("Invoice", "CreditMemo"):
            self.required(obj, "CustomerRef", "Line")
            self.ref("Customer", obj["CustomerRef"], "CustomerRef")
            if len(str(obj.get("DocNumber", ""))) > 21:
                raise Fault(
                    "6000",
                    "A business validation error has occurred",
                    "DocNumber is longer than 21 characters",
                )
            for line in obj["Line"]:
                if line.get("DetailType") == "SalesItemLineDetail":
                    self.ref("Item", line.get("SalesItemLineDetail", {}).get("ItemRef"), "ItemRef")
                money(line.get("Amount"), "Line.Amount")
        elif entity == "Payment":
            self.required(obj, "CustomerRef", "TotalAmt")
            self.ref("Customer", obj["CustomerRef"], "CustomerRef")
            for line in obj.get("Line", []):
                for linked in line.get("LinkedTxn", []):
                    invoice = self.objects["Invoice"].get(str(linked.get("TxnId")))
                    if invoice is None or linked.get("TxnType") != "Invoice":
                        raise Fault(
                            "2500", "Invalid Reference Id", f"Invalid Reference Id : LinkedTxn {linked!r}"
                        )

    def complete(self, entity: str, obj: dict[str, Any]) -> None:
        """Fill in what QuickBooks computes: totals and balances."""
        if entity in ("Invoice", "CreditMemo"):
            lines = sum(
                (
                    money(line["Amount"], "Line.Amount")
                    for line in obj["Line"]
                    if line.get("DetailType") != "SubTotalLineDetail"
                ),
                Decimal(0),
            )
            for position, line in enumerate(obj["Line"], start=1):
                line.setdefault("Id", str(position))
                line.setdefault("LineNum", position)
                line["Amount"] = number(money(line["Amount"], "Line.Amount"))
            tax = money(obj.get("TxnTaxDetail", {}).get("TotalTax", 0), "TxnTaxDetail.TotalTax")
            if "TxnTaxDetail" in obj:
                obj["TxnTaxDetail"]["TotalTax"] = number(tax)
            inclusive = obj.get("GlobalTaxCalculation") == "TaxInclusive"
            total = lines if inclusive else lines + tax
            obj["TotalAmt"] = number(total)
            if entity == "Invoice":
                paid = sum(
                    (money(p["Amount"], "Amount") for p in self.payments_of(obj.get("Id"))), Decimal(0)
                )
                obj["Balance"] = number(total - paid)
            else:
                obj["RemainingCredit"] = number(total)
                obj["Balance"] = number(total)
        elif entity == "Payment":
            obj["TotalAmt"] = number(money(obj["TotalAmt"], "TotalAmt"))
            applied = Decimal(0)
            for line in obj.get("Line", []):
                line["Amount"] = number(money(line["Amount"], "Line.Amount"))
                applied += money(line["Amount"], "Line.Amount")
            obj["UnappliedAmt"] = number(money(obj["TotalAmt"], "TotalAmt") - applied)

    def payments_of(self, invoice_id: str | None) -> list[dict[str, Any]]:
        return [
            line
            for payment in self.objects["Payment"].values()
            for line in payment.get("Line", [])
            if any(str(t.get("TxnId")) == str(invoice_id) for t in line.get("LinkedTxn", []))
        ]

    def apply_payment(self, payment: dict[str, Any], sign: int) -> None:
        # QuickBooks changes the invoice when a payment is applied to it: its Balance, and so its SyncToken.
        for line in payment.get("Line", []):
            for linked in line.get("LinkedTxn", []):
                invoice = self.objects["Invoice"][str(linked["TxnId"])]
                balance = money(invoice["Balance"], "Balance") - sign * money(line["Amount"], "Amount")
                invoice["Balance"] = number(balance)
                invoice["SyncToken"] = str(int(invoice["SyncToken"]) + 1)
                invoice["MetaData"]["LastUpdatedTime"] = now_text()
                links = invoice.setdefault("LinkedTxn", [])
                link = {"TxnId": payment["Id"], "TxnType": "Payment"}
                if sign > 0 and link not in links:
                    links.append(link)

    def edit(self, entity: str, ident: str, changes: dict[str, Any]) -> dict[str, Any]:
        current = self.objects[entity][ident]
        current.update(changes)
        current["SyncToken"] = str(int(current["SyncToken"]) + 1)
        current["MetaData"]["LastUpdatedTime"] = now_text()
        if entity in ("Invoice", "CreditMemo"):
            self.complete(entity, current)
        return current

    def query(self, text: str) -> dict[str, Any]:
        match = QUERY_RE.match(text)
        if match is None:
            raise Fault(
                "4000", "Error parsing query", f"QueryParserError: Encountered an unsupported query: {text}"
            )
        entity = next((e for e in ENTITIES.values() if e.lower() == match["entity"].lower()), None)
        if entity is None:
            raise Fault(
                "4001", "Invalid query", f"QueryValidationError: Entity {match['entity']} is not supported"
            )
        rows = list(self.objects[entity].values())
        if match["where"]:
            for condition in re.split(r"\s+and\s+", match["where"], flags=re.IGNORECASE):
                cond = CONDITION_RE.match(condition)
                if cond is None:
                    raise Fault(
                        "4000", "Error parsing query", f"QueryParserError: unsupported condition {condition}"
                    )
                value = cond["value"].replace("\\'", "'")
                rows = [row for row in rows if str(self.field(row, cond["field"])) == value]
        start = int(match["start"] or 1)
        size = min(int(match["max"] or 100), 1000)
        page = rows[start - 1 : start - 1 + size]
        response: dict[str, Any] = {"startPosition": start, "maxResults": len(page)} if page else {}
        if page:
            response[entity] = page
        return {"QueryResponse": response, "time": now_text()}

    @staticmethod
    def field(row: dict[str, Any], path: str) -> Any:
        value: Any = row
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if path == "PrimaryEmailAddr":
            value = (row.get("PrimaryEmailAddr") or {}).get("Address")
        return value
