"""Stand-in for Amazon WorkMail (moto has no WorkMail backend).

Run as ``python -m sandbox.workmail_server --port N [--organization m-<32 hex>:alias]``.
It speaks the AWS JSON 1.1 protocol the real boto3 ``workmail`` client uses: ``POST /`` with
``X-Amz-Target: WorkMailService.<Action>`` and a JSON body; errors are HTTP 400 (or the injected
status) with ``{"__type": code, "message": ...}``, which botocore turns into ClientError codes.
Member names, error codes and constraints follow botocore's workmail 2017-10-01 service model.
Signatures are not checked.  State lives in memory, per organization.

Test-control endpoints (not AWS):
  POST /_control/reset   back to the --organization seeds, no users, no faults, call counts zeroed
  POST /_control/faults  {"action", "error", "status", "count"}: the next `count` calls of `action` fail
  GET  /_control/calls   {"Action": n} requests received (retries included) since the last reset
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT = "123456789012"  # same fake account id as moto
REGION = "us-east-1"
# Patterns and limits copied from the botocore service model (shapes UserName, EmailAddress, ...).
USER_NAME_RE = re.compile(r"[\w\-.]+(@[a-zA-Z0-9.\-]+\.[a-zA-Z0-9-]{2,})?")
EMAIL_RE = re.compile(r"[a-zA-Z0-9._%+-]{1,64}@[a-zA-Z0-9.-]+\.[a-zA-Z-]{2,}")
ALIAS_RE = re.compile(r"(?!d-)([\da-zA-Z]+)([-][\da-zA-Z]+)*")
ROLES = {"USER", "RESOURCE", "SYSTEM_USER", "REMOTE_USER"}
DEFAULT_PAGE = 100  # MaxResults is 1..100 in the model


class WorkMailError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class User:
    id: str
    name: str
    display_name: str
    role: str
    password: str | None
    first_name: str | None = None
    last_name: str | None = None
    hidden: bool = False
    state: str = "DISABLED"  # CreateUser makes a directory user; RegisterToWorkMail enables it
    email: str | None = None
    enabled_date: float | None = None
    disabled_date: float | None = None


@dataclass
class Organization:
    id: str
    alias: str
    domains: set[str]
    created: float = field(default_factory=time.time)
    users: dict[str, User] = field(default_factory=dict)  # insertion order = ListUsers order


def check_password(password: str) -> None:
    # Directory-style complexity rule (what the WorkMail console enforces): 8+ characters with three
    # of lower case, upper case, digits, symbols.  Real-service rules may be stricter.
    classes = [r"[a-z]", r"[A-Z]", r"[0-9]", r"[^a-zA-Z0-9]"]
    if len(password) < 8 or sum(bool(re.search(c, password)) for c in classes) < 3:
        raise WorkMailError("InvalidPasswordException", "The password doesn't meet the password policy.")


def require(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value in (None, ""):
        raise WorkMailError("InvalidParameterException", f"{name} is required.")
    return value


class Backend:
    def __init__(self, seeds: list[tuple[str, str]]) -> None:
        self.lock = threading.Lock()
        self.seeds = seeds
        self.reset()

    def reset(self) -> None:
        self.orgs = {oid: Organization(oid, alias, {f"{alias}.awsapps.com"}) for oid, alias in self.seeds}
        self.faults: dict[str, list[dict[str, Any]]] = {}
        self.calls: Counter[str] = Counter()

    # -- helpers ---------------------------------------------------------------------------------
    def org(self, params: dict[str, Any]) -> Organization:
        org_id = require(params, "OrganizationId")
        if org_id not in self.orgs:
            raise WorkMailError("OrganizationNotFoundException", f"Organization {org_id} not found.")
        return self.orgs[org_id]

    @staticmethod
    def user(org: Organization, ident: str, *, live: bool = True) -> User:
        # EntityIdentifier accepts the user id, the user name or the email address.
        # Names and addresses only find live users (a deleted user's name may be reused); ids find all.
        key = ident.lower()
        for u in org.users.values():
            by_name = u.state != "DELETED" and key in (u.name.lower(), (u.email or "").lower())
            if u.id == ident or by_name:
                if live and u.state == "DELETED":
                    raise WorkMailError("EntityStateException", f"User {ident} is deleted.")
                return u
        raise WorkMailError("EntityNotFoundException", f"User {ident} not found.")

    @staticmethod
    def describe(u: User) -> dict[str, Any]:
        out = {
            "UserId": u.id,
            "Name": u.name,
            "DisplayName": u.display_name,
            "State": u.state,
            "UserRole": u.role,
            "Email": u.email,
            "EnabledDate": u.enabled_date,
            "DisabledDate": u.disabled_date,
            "FirstName": u.first_name,
            "LastName": u.last_name,
            "HiddenFromGlobalAddressList": u.hidden,
        }
        return {k: v for k, v in out.items() if v is not None}

    # -- actions ---------------------------------------------------------------------------------
    def CreateOrganization(self, p: dict[str, Any]) -> dict[str, Any]:
        alias = require(p, "Alias")
        if not ALIAS_RE.fullmatch(alias) or len(alias) > 62:
            raise WorkMailError("InvalidParameterException", f"Invalid alias {alias}.")
        if any(o.alias == alias for o in self.orgs.values()):
            raise WorkMailError("NameAvailabilityException", f"Alias {alias} is already in use.")
        org_id = f"m-{uuid.uuid4().hex}"
        domains = {f"{alias}.awsapps.com"} | {d["DomainName"].lower() for d in p.get("Domains", [])}
        # The real service creates organizations asynchronously (State "Creating" for a while);
        # here they are Active at once.
        self.orgs[org_id] = Organization(org_id, alias, domains)
        return {"OrganizationId": org_id}

    def DescribeOrganization(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self.org(p)
        return {
            "OrganizationId": org.id,
            "Alias": org.alias,
            "State": "Active",
            "DefaultMailDomain": f"{org.alias}.awsapps.com",
            "CompletedDate": org.created,
            "ARN": f"arn:aws:workmail:{REGION}:{ACCOUNT}:organization/{org.id}",
            "InteroperabilityEnabled": False,
        }

    def CreateUser(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self.org(p)
        name, display = require(p, "Name"), require(p, "DisplayName")
        if len(name) > 64 or not USER_NAME_RE.fullmatch(name):
            raise WorkMailError("InvalidParameterException", f"Invalid user name {name}.")
        role = p.get("Role", "USER")
        if role not in ROLES:
            raise WorkMailError("InvalidParameterException", f"Invalid role {role}.")
        if any(u.name.lower() == name.lower() and u.state != "DELETED" for u in org.users.values()):
            raise WorkMailError("NameAvailabilityException", f"User name {name} is already in use.")
        if p.get("Password") is not None:
            check_password(p["Password"])
        user = User(
            id=str(uuid.uuid4()),
            name=name,
            display_name=display,
            role=role,
            password=p.get("Password"),
            first_name=p.get("FirstName"),
            last_name=p.get("LastName"),
            hidden=bool(p.get("HiddenFromGlobalAddressList", False)),
        )
        org.users[user.id] = user
        return {"UserId": user.id}

    def RegisterToWorkMail(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self.org(p)
        email = require(p, "Email")
        user = self.user(org, require(p, "EntityId"))
        if not EMAIL_RE.fullmatch(email):
            raise WorkMailError("InvalidParameterException", f"Invalid email address {email}.")
        if user.state == "ENABLED":
            raise WorkMailError("EntityAlreadyRegisteredException", f"User {user.id} is already registered.")
        if email.split("@", 1)[1].lower() not in org.domains:
            raise WorkMailError("MailDomainNotFoundException", f"Mail domain of {email} not found.")
        if any((u.email or "").lower() == email.lower() for u in org.users.values() if u.id != user.id):
            raise WorkMailError("EmailAddressInUseException", f"Email address {email} is already in use.")
        user.state, user.email, user.enabled_date = "ENABLED", email, time.time()
        return {}

    def DeregisterFromWorkMail(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self.org(p)
        user = self.user(org, require(p, "EntityId"))
        if user.state != "ENABLED":
            raise WorkMailError("EntityStateException", f"User {user.id} is not registered to WorkMail.")
        # Assumption: the primary address is released with the mailbox, so it can be reused.
        user.state, user.email, user.disabled_date = "DISABLED", None, time.time()
        return {}

    def DeleteUser(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self.org(p)
        # The model lists no EntityNotFoundException for DeleteUser; we still raise it for unknown ids,
        # so product code should treat it (and a DELETED state) as "already gone".
        user = self.user(org, require(p, "UserId"))
        if user.state == "ENABLED":
            raise WorkMailError(
                "EntityStateException", f"User {user.id} must be deregistered from WorkMail before deletion."
            )
        # Deleted users stay visible (State DELETED) as in the real service; the name becomes free.
        user.state = "DELETED"
        return {}

    def ListUsers(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self.org(p)
        limit = p.get("MaxResults", DEFAULT_PAGE)
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise WorkMailError("InvalidParameterException", "MaxResults must be between 1 and 100.")
        start = 0
        if p.get("NextToken"):
            try:
                token = json.loads(base64.b64decode(p["NextToken"]))
                start, token_org = int(token["offset"]), token["org"]
            except (ValueError, KeyError, TypeError) as exc:
                raise WorkMailError("InvalidParameterException", "Invalid NextToken.") from exc
            if token_org != org.id:
                raise WorkMailError("InvalidParameterException", "Invalid NextToken.")
        f = p.get("Filters") or {}
        users = [
            u
            for u in org.users.values()
            if u.name.lower().startswith(f.get("UsernamePrefix", "").lower())
            and u.display_name.lower().startswith(f.get("DisplayNamePrefix", "").lower())
            and (u.email or "").lower().startswith(f.get("PrimaryEmailPrefix", "").lower())
            and f.get("State", u.state) == u.state
        ]
        page = users[start : start + limit]
        keys = ("UserId", "Email", "Name", "DisplayName", "State", "UserRole", "EnabledDate", "DisabledDate")
        out: dict[str, Any] = {
            "Users": [
                {("Id" if k == "UserId" else k): v for k, v in self.describe(u).items() if k in keys}
                for u in page
            ]
        }
        if start + limit < len(users):
            raw = json.dumps({"offset": start + limit, "org": org.id}).encode()
            out["NextToken"] = base64.b64encode(raw).decode()
        return out

    def DescribeUser(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self.org(p)
        return self.describe(self.user(org, require(p, "UserId"), live=False))

    def UpdateUser(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self.org(p)
        user = self.user(org, require(p, "UserId"))
        if "Role" in p and p["Role"] not in ROLES:
            raise WorkMailError("InvalidParameterException", f"Invalid role {p['Role']}.")
        for member, attr in (
            ("DisplayName", "display_name"),
            ("FirstName", "first_name"),
            ("LastName", "last_name"),
            ("Role", "role"),
            ("HiddenFromGlobalAddressList", "hidden"),
        ):
            if member in p:
                setattr(user, attr, p[member])
        return {}

    def ResetPassword(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self.org(p)
        user = self.user(org, require(p, "UserId"))
        password = require(p, "Password")
        check_password(password)
        user.password = password
        return {}

    # -- dispatch --------------------------------------------------------------------------------
    ACTIONS = frozenset(
        {
            "CreateOrganization",
            "DescribeOrganization",
            "CreateUser",
            "RegisterToWorkMail",
            "DeregisterFromWorkMail",
            "DeleteUser",
            "ListUsers",
            "DescribeUser",
            "UpdateUser",
            "ResetPassword",
        }
    )

    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls[action] += 1
            queue = self.faults.get(action, [])
            if queue:
                fault = queue[0]
                fault["count"] -= 1
                if fault["count"] <= 0:
                    queue.pop(0)
                raise WorkMailError(fault["error"], fault.get("message", "Injected fault."), fault["status"])
            if action not in self.ACTIONS:
                raise WorkMailError("UnknownOperationException", f"Operation {action} is not supported.")
            result: dict[str, Any] = getattr(self, action)(params)
            return result

    def add_fault(self, spec: dict[str, Any]) -> None:
        if not isinstance(spec.get("action"), str) or not isinstance(spec.get("error"), str):
            raise ValueError("fault needs string 'action' and 'error'")
        if int(spec.get("count", 1)) < 1:
            raise ValueError("fault 'count' must be at least 1")
        fault = {
            "error": spec["error"],
            "status": int(spec.get("status", 400)),
            "count": int(spec.get("count", 1)),
            "message": str(spec.get("message", "Injected fault.")),
        }
        with self.lock:
            self.faults.setdefault(spec["action"], []).append(fault)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    backend: Backend  # set on the subclass built in main()

    def send_json(self, status: int, body: object, content_type: str = "application/x-amz-json-1.1") -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(raw)

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw.strip() else {}

    def do_GET(self) -> None:
        if self.path == "/_control/calls":
            with self.backend.lock:
                self.send_json(200, dict(self.backend.calls), "application/json")
        else:
            self.send_json(404, {"message": "not found"}, "application/json")

    def do_POST(self) -> None:
        try:
            body = self.read_json()
        except ValueError:
            self.send_json(400, {"__type": "SerializationException", "message": "Malformed JSON body."})
            return
        if self.path == "/_control/reset":
            with self.backend.lock:
                self.backend.reset()
            self.send_json(200, {}, "application/json")
        elif self.path == "/_control/faults":
            try:
                self.backend.add_fault(body)
            except (ValueError, TypeError) as exc:
                self.send_json(400, {"message": str(exc)}, "application/json")
                return
            self.send_json(200, {}, "application/json")
        elif self.path == "/":
            self.handle_aws(body)
        else:
            self.send_json(404, {"message": "not found"}, "application/json")

    def handle_aws(self, body: Any) -> None:
        target = self.headers.get("X-Amz-Target", "")
        prefix, _, action = target.partition(".")
        if prefix != "WorkMailService" or not isinstance(body, dict):
            self.send_json(400, {"__type": "UnknownOperationException", "message": f"Bad target {target!r}."})
            return
        try:
            result = self.backend.call(action, body)
        except WorkMailError as err:
            # botocore reads "__type" for the code and "message"; "Message" is the modeled member.
            self.log_message("%s -> %d %s", action, err.status, err.code)
            self.send_json(err.status, {"__type": err.code, "message": err.message, "Message": err.message})
            return
        self.log_message("%s -> 200", action)
        self.send_json(200, result)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # handle_aws logs the action, which the request line doesn't show


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--organization",
        action="append",
        default=[],
        metavar="ORG_ID:ALIAS",
        help="organization present from start and after every reset",
    )
    args = parser.parse_args()
    seeds = [tuple(s.split(":", 1)) for s in args.organization]
    handler = type("BoundHandler", (Handler,), {"backend": Backend([(o, a) for o, a in seeds])})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    print(f"workmail stand-in listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
