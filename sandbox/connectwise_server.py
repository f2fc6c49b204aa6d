"""Stand-in for the ConnectWise PSA (Manage) REST API: the few endpoints Seatmeter's PSA sync uses.

Run as ``python -m sandbox.connectwise_server --port N [--company C --public-key P --private-key K
--client-id ID]``. Everything lives under ``/v4_6_release/apis/3.0/`` like a real site:

  GET   company/companies                          companies (conditions, page, pageSize)
  GET   finance/agreements                         agreements (conditions, page, pageSize)
  GET   procurement/catalog                        catalog items ("products")
  GET   finance/agreements/{id}/additions          an agreement's additions (conditions, paging)
  GET   finance/agreements/{id}/additions/{aid}    one addition
  POST  finance/agreements/{id}/additions          create an addition
  PATCH finance/agreements/{id}/additions/{aid}    JSON Patch: [{"op": "replace", "path": "quantity", ...}]

What it shares with ConnectWise (its developer docs and the generated SDKs' models): Basic auth
``company+publicKey:privateKey`` and the ``clientId`` header on every call; camelCase objects with
``_info`` metadata (``lastUpdated``, ``updatedBy``); references as ``{"id", "identifier"|"name"}``;
``conditions`` such as ``product/id=12 and cancelledDate=null``; ``page`` from 1 and ``pageSize``
(default 25, at most 1000) with a ``Link`` header (rel next / prev / first / last); errors as
``{"code", "message", "errors": [{"code", "message", "resource", "field"}]}``. What it does not
model: security roles, the rest of the objects' fields, prorating, the agreement's invoicing.

Test-control endpoints (not ConnectWise, no auth):
  POST /_control/reset                 empty store, no faults, call counts zeroed
  POST /_control/seed                  {"companies": [{"identifier", "name"}], "agreements":
                                       [{"company_id", "name"}], "catalog": [{"identifier",
                                       "description", "price"}]}: creates them, answers their ids
  POST /_control/faults                {"method": "PATCH"|"GET"|"POST"|"*", "status": 429,
                                       "count": 1, "retry_after": 1}: the next calls fail so;
                                       {"method", "delay": seconds, "count"}: the next calls are
                                       carried out, then answered that much later (a client can
                                       be killed between the PSA's change and its answer)
  POST /_control/additions/{aid}       {"quantity": N}: someone edits the addition in the PSA
  GET  /_control/state                 every addition, and calls per method (retries included)
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

API_PREFIX = "/v4_6_release/apis/3.0/"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
BILL_CUSTOMER = ("Billable", "DoNotBill", "NoCharge")
# One comparison of a conditions string: field, operator, value. ConnectWise also knows "in",
# "not like", parentheses and "or"; the sync uses only "and"-joined comparisons.
_CONDITION = re.compile(
    r"\s*(?P<field>[A-Za-z_][\w/]*)\s*(?P<op>!=|<=|>=|=|<|>|\blike\b|\bcontains\b)\s*"
    r'(?P<value>"(?:[^"\\]|\\.)*"|\[[^\]]*\]|[-\w.:]+)\s*',
    re.IGNORECASE,
)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _field(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _literal(text: str) -> Any:
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("["):  # dates are written [2026-10-01T00:00:00Z]
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("null", "true", "false"):
        return {"null": None, "true": True, "false": False}[lowered]
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ApiError(400, "InvalidObject", f"Invalid value {text!r} in conditions.") from None


def parse_conditions(text: str) -> list[tuple[str, str, Any]]:
    parts = re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE) if text.strip() else []
    parsed = []
    for part in parts:
        match = _CONDITION.fullmatch(part)
        if match is None:
            raise ApiError(400, "InvalidObject", f"Cannot parse the conditions near {part!r}.")
        parsed.append((match["field"], match["op"].lower(), _literal(match["value"])))
    return parsed


def _matches(obj: dict[str, Any], conditions: list[tuple[str, str, Any]]) -> bool:
    for path, op, wanted in conditions:
        actual = _field(obj, path)
        if op == "=" and actual != wanted:
            return False
        if op == "!=" and actual == wanted:
            return False
        if op in ("like", "contains"):
            pattern = str(wanted).lower().replace("*", "").replace("%", "")
            if actual is None or pattern not in str(actual).lower():
                return False
        if op in ("<", ">", "<=", ">="):
            if actual is None:
                return False
            ordered = {
                "<": actual < wanted,
                ">": actual > wanted,
                "<=": actual <= wanted,
                ">=": actual >= wanted,
            }
            if not ordered[op]:
                return False
    return True


class Backend:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.next_id = 100
        self.companies: dict[int, dict[str, Any]] = {}
        self.agreements: dict[int, dict[str, Any]] = {}
        self.catalog: dict[int, dict[str, Any]] = {}
        self.additions: dict[int, dict[str, Any]] = {}
        self.faults: list[dict[str, Any]] = []
        self.delays: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    @staticmethod
    def _info(by: str) -> dict[str, str]:
        stamp = now_text()
        return {"lastUpdated": stamp, "updatedBy": by, "dateEntered": stamp, "enteredBy": by}

    # -- seeding (test control) ------------------------------------------------------------------
    def seed(self, body: dict[str, Any]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {"companies": [], "agreements": [], "catalog": []}
        for item in body.get("companies", []):
            cid = self._new_id()
            self.companies[cid] = {
                "id": cid,
                "identifier": item["identifier"],
                "name": item["name"],
                "status": {"id": 1, "name": "Active"},
                "deletedFlag": False,
                "_info": self._info("admin"),
            }
            out["companies"].append(cid)
        for item in body.get("agreements", []):
            company = self.companies[int(item["company_id"])]
            aid = self._new_id()
            self.agreements[aid] = {
                "id": aid,
                "name": item["name"],
                "type": {"id": 1, "name": "Managed Services"},
                "company": {
                    "id": company["id"],
                    "identifier": company["identifier"],
                    "name": company["name"],
                },
                "agreementStatus": "Active",
                "cancelledFlag": False,
                "noEndingDateFlag": True,
                "startDate": "2026-01-01T00:00:00Z",
                "billCycleId": 2,
                "_info": self._info("admin"),
            }
            out["agreements"].append(aid)
        for item in body.get("catalog", []):
            pid = self._new_id()
            self.catalog[pid] = {
                "id": pid,
                "identifier": item["identifier"],
                "description": item.get("description", item["identifier"]),
                "inactiveFlag": False,
                "price": float(item.get("price", 0)),
                "cost": float(item.get("cost", 0)),
                "productClass": "Agreement",
                "_info": self._info("admin"),
            }
            out["catalog"].append(pid)
        return out

    def add_fault(self, spec: dict[str, Any]) -> None:
        method = str(spec.get("method", "*")).upper()
        count = int(spec.get("count", 1))
        if count < 1:
            raise ValueError("count must be >= 1")
        if "delay" in spec:
            self.delays.append({"method": method, "count": count, "delay": float(spec["delay"])})
            return
        status = int(spec.get("status", 429))
        if status < 400:
            raise ValueError("status must be >= 400")
        self.faults.append(
            {
                "method": method,
                "status": status,
                "count": count,
                "retry_after": int(spec.get("retry_after", 1)),
            }
        )

    def take_fault(self, method: str) -> dict[str, Any] | None:
        return _take(self.faults, method)

    def take_delay(self, method: str) -> float:
        delay = _take(self.delays, method)
        return float(delay["delay"]) if delay is not None else 0.0

    def edit_in_psa(self, addition_id: int, body: dict[str, Any]) -> dict[str, Any]:
        addition = self.additions.get(addition_id)
        if addition is None:
            raise ApiError(404, "NotFound", f"Addition {addition_id} not found")
        addition["quantity"] = float(body["quantity"])
        addition["_info"]["lastUpdated"] = now_text()
        addition["_info"]["updatedBy"] = "dispatcher"
        return addition

    # -- the API ---------------------------------------------------------------------------------
    def agreement(self, agreement_id: int) -> dict[str, Any]:
        agreement = self.agreements.get(agreement_id)
        if agreement is None:
            raise ApiError(404, "NotFound", f"Agreement recId {agreement_id} not found")
        return agreement

    def addition(self, agreement_id: int, addition_id: int) -> dict[str, Any]:
        self.agreement(agreement_id)
        addition = self.additions.get(addition_id)
        if addition is None or addition["agreementId"] != agreement_id:
            raise ApiError(404, "NotFound", f"Addition recId {addition_id} not found")
        return addition

    def create_addition(self, agreement_id: int, body: Any) -> dict[str, Any]:
        self.agreement(agreement_id)
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidObject", "addition object is invalid")
        errors = []
        product_ref = body.get("product")
        product_id = product_ref.get("id") if isinstance(product_ref, dict) else None
        if product_id is None:
            errors.append(_field_error("NullValue", "The product field is required.", "product"))
        elif int(product_id) not in self.catalog:
            errors.append(_field_error("NotFound", f"Product {product_id} not found", "product/id"))
        bill_customer = body.get("billCustomer")
        if bill_customer not in BILL_CUSTOMER:
            errors.append(
                _field_error(
                    "InvalidValue", f"billCustomer must be one of {', '.join(BILL_CUSTOMER)}.", "billCustomer"
                )
            )
        quantity = body.get("quantity", 0)
        if not isinstance(quantity, (int, float)) or quantity < 0:
            errors.append(
                _field_error("InvalidValue", "quantity must be a number of at least 0.", "quantity")
            )
        if errors:
            raise ApiError(400, "InvalidObject", "addition object is invalid", errors)
        item = self.catalog[int(product_id)]  # type: ignore[arg-type]
        addition_id = self._new_id()
        addition = {
            "id": addition_id,
            "product": {"id": item["id"], "identifier": item["identifier"]},
            "quantity": float(quantity),
            "lessIncluded": float(body.get("lessIncluded", 0)),
            "unitPrice": float(body.get("unitPrice", item["price"])),
            "unitCost": float(body.get("unitCost", item["cost"])),
            "billCustomer": bill_customer,
            "effectiveDate": body.get("effectiveDate") or now_text(),
            "cancelledDate": None,
            "taxableFlag": bool(body.get("taxableFlag", True)),
            "invoiceDescription": body.get("invoiceDescription") or item["description"],
            "description": body.get("description") or item["description"],
            "agreementId": agreement_id,
            "uom": "Each",
            "_info": self._info("seatmeter-api"),
        }
        self.additions[addition_id] = addition
        return addition

    def patch_addition(self, agreement_id: int, addition_id: int, body: Any) -> dict[str, Any]:
        addition = self.addition(agreement_id, addition_id)
        if not isinstance(body, list) or not body:
            raise ApiError(400, "InvalidObject", "The patch must be a list of operations.")
        for operation in body:
            if not isinstance(operation, dict) or operation.get("op") != "replace":
                raise ApiError(400, "InvalidObject", "Only the replace operation is supported.")
            path = str(operation.get("path", "")).strip("/")
            if path not in ("quantity", "lessIncluded", "unitPrice", "description", "invoiceDescription"):
                raise ApiError(
                    400,
                    "InvalidObject",
                    "addition object is invalid",
                    [_field_error("InvalidField", path, path)],
                )
            value = operation.get("value")
            if path in ("quantity", "lessIncluded", "unitPrice"):
                if not isinstance(value, (int, float)) or value < 0:
                    raise ApiError(
                        400,
                        "InvalidObject",
                        "addition object is invalid",
                        [_field_error("InvalidValue", f"{path} must be a number of at least 0.", path)],
                    )
                value = float(value)
            addition[path] = value
        addition["_info"]["lastUpdated"] = now_text()
        addition["_info"]["updatedBy"] = "seatmeter-api"
        return addition


def _take(queue: list[dict[str, Any]], method: str) -> dict[str, Any] | None:
    for fault in queue:
        if fault["method"] in ("*", method) and fault["count"] > 0:
            fault["count"] -= 1
            return fault
    return None


def _field_error(code: str, message: str, field: str) -> dict[str, str]:
    return {"code": code, "message": message, "resource": "addition", "field": field}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    backend: Backend  # set on the subclass built in main()
    credentials: tuple[str, str, str, str]  # company, public key, private key, clientId
    # Answers held back while a "delay" fault makes the client wait (None: answer at once).
    buffered: list[tuple[int, object, dict[str, str] | None]] | None = None

    # -- plumbing --------------------------------------------------------------------------------
    def send_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        if self.buffered is not None:
            self.buffered.append((status, body, headers))
            return
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "InvalidObject", "The request body is not valid JSON.") from None

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log_message("%s %s -> %s", self.command, self.path, code)

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            body = self.read_json() if method != "GET" else None
            if url.path.startswith("/_control/"):
                self.control(method, url.path, body)
                return
            if not url.path.startswith(API_PREFIX):
                raise ApiError(404, "NotFound", f"No resource at {url.path}")
            delay = 0.0
            with self.backend.lock:
                self.backend.calls[method] += 1
                self.authenticate()
                delay = self.backend.take_delay(method)
                if delay:
                    # Carry the call out now, answer later and outside the lock.
                    self.buffered = []
                fault = self.backend.take_fault(method)
                if fault is not None:
                    self.backend.calls[str(fault["status"])] += 1
                    headers = {"Retry-After": str(fault["retry_after"])} if fault["status"] == 429 else {}
                    message = "Too many requests" if fault["status"] == 429 else "Internal server error"
                    code = "TooManyRequests" if fault["status"] == 429 else "UnexpectedError"
                    self.send_json(fault["status"], {"code": code, "message": message}, headers)
                    return
                self.api(method, url.path[len(API_PREFIX) :], parse_qs(url.query), body)
            if delay:
                time.sleep(delay)
                answers, self.buffered = self.buffered or [], None
                for answer in answers:
                    self.send_json(*answer)
        except ApiError as error:
            self.buffered = None
            self.send_json(error.status, error.body())

    def authenticate(self) -> None:
        company, public_key, private_key, client_id = self.credentials
        if not self.headers.get("clientId"):
            raise ApiError(401, "Unauthorized", "clientId header is required")
        if client_id and self.headers.get("clientId") != client_id:
            raise ApiError(401, "Unauthorized", "Invalid clientId")
        header = self.headers.get("Authorization", "")
        expected = base64.b64encode(f"{company}+{public_key}:{private_key}".encode()).decode()
        if header != f"Basic {expected}":
            raise ApiError(401, "Unauthorized", "Incorrect public/private key")

    # -- routes ----------------------------------------------------------------------------------
    def api(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> None:
        backend = self.backend
        parts = path.strip("/").split("/")
        if method == "GET" and parts == ["company", "companies"]:
            self.send_page(list(backend.companies.values()), query, path)
        elif method == "GET" and parts == ["finance", "agreements"]:
            self.send_page(list(backend.agreements.values()), query, path)
        elif method == "GET" and parts == ["procurement", "catalog"]:
            self.send_page(list(backend.catalog.values()), query, path)
        elif len(parts) >= 4 and parts[:2] == ["finance", "agreements"] and parts[3] == "additions":
            agreement_id = _int_id(parts[2], "Agreement")
            if len(parts) == 4 and method == "GET":
                backend.agreement(agreement_id)
                additions = [a for a in backend.additions.values() if a["agreementId"] == agreement_id]
                self.send_page(additions, query, path)
            elif len(parts) == 4 and method == "POST":
                self.send_json(201, backend.create_addition(agreement_id, body))
            elif len(parts) == 5 and method == "GET":
                self.send_json(200, backend.addition(agreement_id, _int_id(parts[4], "Addition")))
            elif len(parts) == 5 and method == "PATCH":
                self.send_json(200, backend.patch_addition(agreement_id, _int_id(parts[4], "Addition"), body))
            else:
                raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
        else:
            raise ApiError(404, "NotFound", f"No resource at {path}")

    def send_page(self, items: list[dict[str, Any]], query: dict[str, list[str]], path: str) -> None:
        conditions = parse_conditions(query.get("conditions", [""])[0])
        page = _positive(query.get("page", ["1"])[0], "page")
        size = min(_positive(query.get("pageSize", [str(DEFAULT_PAGE_SIZE)])[0], "pageSize"), MAX_PAGE_SIZE)
        found = sorted((item for item in items if _matches(item, conditions)), key=lambda item: item["id"])
        last = max(1, -(-len(found) // size))
        chunk = found[(page - 1) * size : page * size]

        def link(number: int) -> str:
            params = {key: values[0] for key, values in query.items()}
            params.update(page=str(number), pageSize=str(size))
            host = self.headers.get("Host", "127.0.0.1")
            return f"<http://{host}{API_PREFIX}{path}?{urlencode(params)}>"

        rels = []
        if page > 1:
            rels += [f'{link(1)}; rel="first"', f'{link(page - 1)}; rel="prev"']
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        self.send_json(200, chunk, {"Link": ", ".join(rels)} if rels else None)

    def control(self, method: str, path: str, body: Any) -> None:
        backend = self.backend
        with backend.lock:
            if method == "POST" and path == "/_control/reset":
                backend.reset()
                self.send_json(200, {})
            elif method == "POST" and path == "/_control/seed":
                self.send_json(200, backend.seed(body or {}))
            elif method == "POST" and path == "/_control/faults":
                try:
                    backend.add_fault(body or {})
                except (TypeError, ValueError) as error:
                    raise ApiError(400, "InvalidObject", str(error)) from None
                self.send_json(200, {})
            elif method == "POST" and path.startswith("/_control/additions/"):
                addition_id = _int_id(path.rsplit("/", 1)[1], "Addition")
                self.send_json(200, backend.edit_in_psa(addition_id, body or {}))
            elif method == "GET" and path == "/_control/state":
                self.send_json(
                    200, {"additions": list(backend.additions.values()), "calls": dict(backend.calls)}
                )
            else:
                raise ApiError(404, "NotFound", f"No control endpoint {method} {path}")


def _int_id(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ApiError(404, "NotFound", f"{what} recId {text} not found") from None


def _positive(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ApiError(400, "InvalidObject", f"{name} must be a whole number of at least 1.")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--company", default="seatmeter")
    parser.add_argument("--public-key", default="sandbox-public")
    parser.add_argument("--private-key", default="sandbox-private")
    parser.add_argument("--client-id", default="", help="the clientId every call must carry (any when empty)")
    args = parser.parse_args()
    handler = type(
        "BoundHandler",
        (Handler,),
        {
            "backend": Backend(),
            "credentials": (args.company, args.public_key, args.private_key, args.client_id),
        },
    )
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    print(f"ConnectWise PSA stand-in listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
