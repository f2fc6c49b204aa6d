"""Stand-in for QuickBooks Online: Intuit's OAuth 2.0 and the Accounting API v3 (the parts Seatmeter uses).

Run as ``python -m sandbox.quickbooks_server --port N --client-id ID --client-secret SECRET``.
The product's real clients talk to it unchanged: ``intuit-oauth``'s ``AuthClient`` reads the discovery
document at ``/.well-known/openid_configuration`` (pass that URL as its ``environment``) and
``python-quickbooks`` sends its requests under ``/v3`` (its ``api_url_v3``).

What it imitates, from Intuit's documentation and python-quickbooks' handling of the answers:
- OAuth: ``/connect/oauth2`` shows a consent page whose button redirects to the app's redirect URI
  with ``code``, ``state`` and ``realmId``; ``/oauth2/v1/tokens/bearer`` takes HTTP Basic client
  credentials and the ``authorization_code`` or ``refresh_token`` grant, answers
  ``{"access_token", "refresh_token", "expires_in": 3600, "x_refresh_token_expires_in", "token_type"}``
  or HTTP 400 ``{"error": "invalid_grant"}``. An authorization code works once. A refresh hands out a
  new refresh token; the old one keeps working (Intuit's grace period), until revoked by control.
- API: ``POST /v3/company/<realm>/<entity>`` creates (no ``Id``) or updates (``Id`` + ``SyncToken``,
  full or ``"sparse": true``); ``GET /v3/company/<realm>/<entity>/<id>``; ``/query`` with
  ``select * from <Entity> [where Field = 'value' [and ...]] [startposition n] [maxresults m]``.
  Answers are ``{"<Entity>": {...}, "time": ...}`` and ``{"QueryResponse": {...}}``; errors are
  ``{"Fault": {"Error": [{"Message", "Detail", "code"}], "type"}}`` with HTTP 400.
- ``?requestid=``: the first answer for a (realm, requestid) is kept and returned again for a repeat,
  without doing anything a second time.
- SyncToken: a string counter; an update with another SyncToken is refused with 5010 "Stale Object
  Error". Applying a Payment to an Invoice moves the invoice's Balance and its SyncToken, as QuickBooks does.
- 6240 "Duplicate Name Exists Error" for a second Customer with the same DisplayName or Item with the
  same Name; 2500 "Invalid Reference Id" for a reference to nothing; 2020 for a missing required field.
- HTTP 401 (Intuit's AUTHENTICATION fault) for a missing, unknown or expired access token; HTTP 429
  ``ThrottleExceeded`` (errorCode 003001) when told to.
- Accounts: a few seeded ones (Income among them), read-only here.

Not imitated: tax engines (TxnTaxDetail.TotalTax is kept as sent, not computed from tax codes),
multicurrency, batch, CDC, webhooks, the 10-concurrent-requests limit.

Test-control endpoints (not Intuit's):
  POST /_control/reset           no companies' data, no tokens, no faults (the realm stays)
  POST /_control/expire-tokens   every access token issued so far is expired (now, or with
                                 {"after": n} from the n-th API call on)
  POST /_control/revoke-refresh  every refresh token issued so far stops working
  POST /_control/throttle        {"count": n}: the next n API calls answer 429
  POST /_control/edit            {"entity", "id", "changes"}: someone edits an object in QuickBooks
  GET  /_control/store           every object, by entity
  GET  /_control/calls           requests by kind ("POST invoice", "token:refresh_token", "throttled",
                                 "requestid repeated", ...)
"""

from __future__ import annotations

import argparse
import base64
import binascii
import html
import json
import re
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 8726400  # 101 days, as Intuit answers
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


class Backend:
    def __init__(self, client_id: str, client_secret: str, realm: str) -> None:
        self.client_id, self.client_secret, self.realm = client_id, client_secret, realm
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.company = Company(self.realm)
        self.codes: dict[str, str] = {}  # code -> redirect_uri
        self.access_tokens: dict[str, float] = {}  # token -> expires at (epoch)
        self.refresh_tokens: set[str] = set()
        self.throttle = 0
        self.expire_after = 0  # > 0: every access token expires once this many more API calls came
        self.calls: Counter[str] = Counter()

    def issue_tokens(self) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), "AB" + secrets.token_urlsafe(24)
        self.access_tokens[access] = time.time() + ACCESS_TOKEN_SECONDS
        self.refresh_tokens.add(refresh)
        return {
            "token_type": "bearer",  # nosec B105  # OAuth's token type, not a password
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "x_refresh_token_expires_in": REFRESH_TOKEN_SECONDS,
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    backend: Backend

    # --- plumbing
    def send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("intuit_tid", secrets.token_hex(8))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(body).encode(), "application/json;charset=UTF-8", headers)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def log_message(self, format: str, *args: Any) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)

    @property
    def base(self) -> str:
        # The Host header the client used: the discovery document's URLs then work from wherever it asked.
        return f"http://{self.headers.get('Host') or '127.0.0.1'}"

    # --- routes
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid_configuration":
            self.send_json(
                200,
                {
                    "issuer": self.base,
                    "authorization_endpoint": f"{self.base}/connect/oauth2",
                    "token_endpoint": f"{self.base}/oauth2/v1/tokens/bearer",
                    "userinfo_endpoint": f"{self.base}/v1/openid_connect/userinfo",
                    "revocation_endpoint": f"{self.base}/oauth2/v1/tokens/revoke",
                    "jwks_uri": f"{self.base}/oauth2/v1/keys",
                },
            )
        elif url.path == "/connect/oauth2":
            self.authorize_page(query)
        elif url.path == "/_control/store":
            with self.backend.lock:
                self.send_json(200, self.backend.company.objects)
        elif url.path == "/_control/calls":
            with self.backend.lock:
                self.send_json(200, dict(self.backend.calls))
        elif url.path.startswith("/v3/company/"):
            self.api("GET", url.path, query, b"")
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        raw = self.read_body()
        if url.path == "/connect/oauth2":
            self.authorize_consent({k: v[-1] for k, v in parse_qs(raw.decode()).items()})
        elif url.path == "/oauth2/v1/tokens/bearer":
            self.token(raw)
        elif url.path.startswith("/_control/"):
            self.control(url.path.removeprefix("/_control/"), raw)
        elif url.path.startswith("/v3/company/"):
            self.api("POST", url.path, query, raw)
        else:
            self.send_json(404, {"error": "not found"})

    # --- OAuth
    def authorize_problem(self, query: dict[str, str]) -> str | None:
        if query.get("client_id") != self.backend.client_id:
            return "Unknown client_id."
        if query.get("response_type") != "code":
            return "response_type must be code."
        if "com.intuit.quickbooks.accounting" not in query.get("scope", "").split():
            return "The scope must include com.intuit.quickbooks.accounting."
        if not query.get("redirect_uri", "").startswith(("http://", "https://")):
            return "The redirect_uri is missing."
        return None

    def authorize_page(self, query: dict[str, str]) -> None:
        problem = self.authorize_problem(query)
        if problem:
            self.send(400, f"<p>{html.escape(problem)}</p>".encode(), "text/html; charset=utf-8")
            return
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        page = (
            "<!doctype html><title>Connect to QuickBooks (stand-in)</title>"
            f"<h1>Connect this app to company {html.escape(self.backend.realm)}?</h1>"
            f'<form method="post" action="/connect/oauth2">{fields}<button>Connect</button></form>'
        )
        self.send(200, page.encode(), "text/html; charset=utf-8")

    def authorize_consent(self, form: dict[str, str]) -> None:
        problem = self.authorize_problem(form)
        if problem:
            self.send(400, f"<p>{html.escape(problem)}</p>".encode(), "text/html; charset=utf-8")
            return
        code = "AB" + secrets.token_urlsafe(32)
        with self.backend.lock:
            self.backend.codes[code] = form["redirect_uri"]
        target = (
            form["redirect_uri"]
            + "?"
            + urlencode({"code": code, "state": form.get("state", ""), "realmId": self.backend.realm})
        )
        self.send(302, b"", "text/plain", {"Location": target})

    def token(self, raw: bytes) -> None:
        header = self.headers.get("Authorization", "")
        try:
            user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        if not header.startswith("Basic ") or (user, password) != (
            self.backend.client_id,
            self.backend.client_secret,
        ):
            self.send_json(401, {"error": "invalid_client"})
            return
        form = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        with self.backend.lock:
            self.backend.calls["token:" + form.get("grant_type", "?")] += 1
            if form.get("grant_type") == "authorization_code":
                redirect = self.backend.codes.pop(form.get("code", ""), None)
                if redirect is None or redirect != form.get("redirect_uri"):
                    self.send_json(400, {"error": "invalid_grant"})
                    return
            elif form.get("grant_type") == "refresh_token":
                if form.get("refresh_token") not in self.backend.refresh_tokens:
                    self.send_json(400, {"error": "invalid_grant"})
                    return
            else:
                self.send_json(400, {"error": "unsupported_grant_type"})
                return
            self.send_json(200, self.backend.issue_tokens())

    # --- control
    def control(self, action: str, raw: bytes) -> None:
        body = json.loads(raw) if raw.strip() else {}
        backend = self.backend
        with backend.lock:
            if action == "reset":
                backend.reset()
            elif action == "expire-tokens":
                if body.get("after"):
                    backend.expire_after = int(body["after"])
                else:
                    backend.access_tokens = dict.fromkeys(backend.access_tokens, 0.0)
            elif action == "revoke-refresh":
                backend.refresh_tokens.clear()
            elif action == "throttle":
                backend.throttle = int(body.get("count", 1))
            elif action == "edit":
                try:
                    edited = backend.company.edit(body["entity"], str(body["id"]), body.get("changes", {}))
                except (KeyError, Fault) as error:
                    self.send_json(400, {"error": str(error)})
                    return
                self.send_json(200, edited)
                return
            else:
                self.send_json(404, {"error": "no such control"})
                return
        self.send_json(200, {})

    # --- the Accounting API
    def api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        parts = path.strip("/").split("/")  # v3 company <realm> <entity> [<id>]
        backend = self.backend
        with backend.lock:
            backend.calls[f"{method} {'/'.join(parts[3:4])}"] += 1
            if backend.expire_after > 0:
                backend.expire_after -= 1
                if backend.expire_after == 0:
                    backend.access_tokens = dict.fromkeys(backend.access_tokens, 0.0)
            token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if backend.access_tokens.get(token, 0.0) < time.time():
                self.send_json(
                    401,
                    {
                        "warnings": None,
                        "intuitObject": None,
                        "fault": {
                            "error": [
                                {
                                    "message": (
                                        "message=AuthenticationFailed; errorCode=003200; statusCode=401"
                                    ),
                                    "detail": "Token expired",
                                    "code": "3200",
                                    "element": None,
                                }
                            ],
                            "type": "AUTHENTICATION",
                        },
                        "report": None,
                        "queryResponse": None,
                        "batchItemResponse": [],
                        "attachableResponse": [],
                        "syncErrorResponse": None,
                        "requestId": None,
                        "time": int(time.time() * 1000),
                        "status": None,
                        "cdcresponse": [],
                    },
                )
                return
            if backend.throttle > 0:
                backend.throttle -= 1
                backend.calls["throttled"] += 1
                self.send_json(
                    429,
                    Fault(
                        "3001",
                        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                        "Too many requests",
                        429,
                        "SERVICE",
                    ).body(),
                )
                return
            if len(parts) < 4 or parts[2] != backend.realm:
                self.send_json(
                    403,
                    Fault(
                        "3100",
                        "ApplicationAuthorizationFailed",
                        "The token does not grant access to this company",
                        403,
                        "AUTHENTICATION",
                    ).body(),
                )
                return
            if "minorversion" not in query:
                # python-quickbooks always sends it; the product must not lose it.
                self.send_json(
                    400, Fault("2010", "minorversion is required by this stand-in", "minorversion").body()
                )
                return
            request_id = query.get("requestid")
            company = backend.company
            if method == "POST" and request_id and request_id in company.answers:
                backend.calls["requestid repeated"] += 1
                status, answer = company.answers[request_id]
                self.send_json(status, answer)
                return
            try:
                status, answer = 200, self.dispatch(method, parts, query, raw)
            except Fault as fault:
                status, answer = fault.status, fault.body()
            if method == "POST" and request_id:
                company.answers[request_id] = (status, answer)
            self.send_json(status, answer)

    def dispatch(self, method: str, parts: list[str], query: dict[str, str], raw: bytes) -> dict[str, Any]:
        company = self.backend.company
        if parts[3] == "query":
            text = query.get("query") or raw.decode()
            return company.query(text)
        entity = ENTITIES.get(parts[3])
        if entity is None:
            raise Fault("4001", "Unsupported operation", f"{parts[3]} is not an entity here", 400)
        if method == "GET":
            found = company.objects[entity].get(parts[4] if len(parts) > 4 else "")
            if found is None:
                raise Fault(
                    "610",
                    "Object Not Found",
                    "Object Not Found : Something you're trying to use has been deleted",
                )
            return {entity: found, "time": now_text()}
        if query.get("operation"):
            raise Fault("4001", "Unsupported operation", f"operation={query['operation']} is not imitated")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise Fault(
                "2010", "Request has invalid or unsupported property", "The body is not JSON"
            ) from None
        if not isinstance(body, dict):
            raise Fault("2010", "Request has invalid or unsupported property", "The body is not an object")
        return {entity: company.write(entity, body), "time": now_text()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--realm", default="9341453050071234")
    args = parser.parse_args()
    backend = Backend(args.client_id, args.client_secret, args.realm)
    handler = type("BoundHandler", (Handler,), {"backend": backend})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    print(f"quickbooks stand-in listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
