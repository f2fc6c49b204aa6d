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
import secrets
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.quickbooks_company import ENTITIES, Company, Fault, now_text

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 8726400  # 101 days, as Intuit answers


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
