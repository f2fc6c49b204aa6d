"""Nothing a user types causes a 500: hostile values in every GET and POST route (issue 13).

The sweep walks the URL map (as the CSRF and role tests do), so a route added later is swept too.
Each route is called as a caller its declaration lets in (a logged-in person, an API token, or
anyone), with every path parameter, every query parameter and every form field (or JSON body field)
set to one hostile value at a time: months out of range, negative and exponent numbers, SQL LIKE
wildcards, a 10,000-character word, Arabic-Indic digits, NUL, right-to-left marks, emoji, SQL and
HTML fragments, empty values, and no fields at all. The names filled in are every field of every
form class, every field the pages show, and every query and body field the API documents.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from flask import Flask
from flask_wtf import FlaskForm
from werkzeug.routing import Rule
from wtforms.fields.core import UnboundField

from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Role
from portal.auth.access import Via, access_of
from portal.catalog.services import get_product
from portal.db import db
from provisioning import place_order
from tests.portal.api.conftest import TESTS
from tests.portal.web.callers import ANONYMOUS, Caller, Callers

LONG = "W" * 10_000
HOSTILE = (
    "9999-12",
    "0001-01",
    "-1",
    "1e3",
    "%_",
    LONG,
    "\u0661\u0662\u0663\u066b\u0664\u0665",  # Arabic-Indic digits and decimal separator
    "a\x00b",
    "\u202eevil\u202c",
    "😀👩‍💻",
    "' OR 1=1; DROP TABLE clients; --",
    '"><script>alert(1)</script>',
    "",
)
# Integer path parameters take digits only (anything else is a 404 from the router): the smallest,
# one that exists, and two that overflow a database integer.
HOSTILE_IDS = ("0", "1", str(2**63), "9" * 30)
# Names the views read from the query string or the form directly, not through a form class.
DIRECT_NAMES = (
    "client",
    "email",
    "ids",
    "next",
    "page",
    "period",
    "q",
    "show",
    "product",
    "auto",
    "session_id",
    "setup_intent",
)
URL_VALUE = 1_000
# A form body stays under the request size limits with the long value in this many fields at once.
LONG_FIELDS_PER_REQUEST = 30

_FIELD_NAME = re.compile(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"')


def _subclasses(cls: type) -> Iterator[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def form_field_names() -> set[str]:
    return {
        name
        for form in _subclasses(FlaskForm)
        for name in dir(form)
        if isinstance(getattr(form, name, None), UnboundField)
    }


def api_names(document: dict) -> tuple[set[str], set[str]]:
    """(query parameter names, body field names) the API's OpenAPI document names."""
    query, body = set(), set()
    for operations in document["paths"].values():
        for operation in operations.values():
            query |= {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                schema = media.get("schema", {})
                if "$ref" in schema:
                    schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
                body |= set(schema.get("properties", {}))
    return query, body


def caller_for(app: Flask, rule: Rule, method: str) -> Caller | None:
    access = access_of(app.view_functions[rule.endpoint])
    if access is None or access.via is Via.ANYONE:
        return ANONYMOUS
    roles = access.roles_for(method)
    for role in (Role.CLIENT_ADMIN, Role.RESELLER_ADMIN, *Role):
        if role in roles:
            via = "token" if access.via is Via.TOKEN else "(logged in)"
            return Caller(f"{role.value} {via}", access.via, role)
    return None


def fill_path(rule: Rule, value: str, id_value: str) -> str:
    """Every path parameter set to the hostile ``value`` (integer ones to ``id_value``)."""

    def convert(match: re.Match[str]) -> str:
        return id_value if match.group(1) == "int" else quote(value or "x", safe="")

    return re.sub(r"<(?:([a-z]+):)?([^>]+)>", convert, rule.rule)


def fill_path_validly(rule: Rule, valid: dict[str, str]) -> str:
    """Every path parameter set to something that exists, so that the form behind it is reached."""

    def convert(match: re.Match[str]) -> str:
        name = match.group(2)
        if name == "code" and "/skus/" in rule.rule:
            return valid["sku"]
        return valid.get(name, "1")

    return re.sub(r"<(?:([a-z]+):)?([^>]+)>", convert, rule.rule)


@pytest.fixture
def world(app, make_client, make_user, catalog):
    """A client with people, an order and seats, so pages have something to show and ids exist."""
    acme = make_client("acme")
    people = {
        role: make_user(role, None if role.is_reseller else acme)
        for role in Role
        if role is not Role.INTEGRATION
    }
    voip = get_product("voip")
    seat = place_order(TESTS, acme, voip, 2).seats[0]
    end_user = add_end_user(TESTS, acme, "Zoë Ünïcode", "zoe@acme.example")
    db.session.commit()
    callers = Callers(app, acme, people)
    last_month = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    callers.valid = {
        "code": voip.code,
        "sku": voip.skus[0].code if voip.skus else "none",
        "ref": acme.ref,
        "period": last_month,
        "source": "walk-rmm",
        "external_org": "org-1",
        "token": "not-a-token",
        "seat_id": str(seat.id),
        "end_user_id": str(end_user.id),
        "product_id": str(voip.id),
    }
    return callers


def test_no_hostile_value_in_any_field_causes_a_server_error(app, world):
    started = time.monotonic()
    # Configured, so that Stripe's webhook checks the signature (400) instead of answering that
    # the portal is not set up for it (503).
    app.config["STRIPE_WEBHOOK_SECRET"] = "whsec_hostile_input_sweep"
    forms = form_field_names()
    api_query, api_body = api_names(app.test_client().get("/api/v1/openapi.json").get_json())
    web_names = sorted(forms | set(DIRECT_NAMES))
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    errors: list[str] = []
    requests = 0

    def send(caller: Caller, method: str, path: str, **kwargs) -> None:
        nonlocal requests
        requests += 1
        try:
            status = world.send(caller, method, path, **kwargs).status_code
        except Exception as error:  # the app raises instead of answering 500 under TESTING
            where = traceback.extract_tb(error.__traceback__)[-1]
            errors.append(f"{method} {path[:120]}: {error!r:.200} at {where.filename}:{where.lineno}")
            return
        if status >= 500:
            errors.append(f"{method} {path[:120]}: {status}")

    def send_fields(
        caller: Caller,
        method: str,
        path: str,
        value: str,
        names: list[str],
        query_names: list[str],
        api_body: set[str] | None,
    ) -> None:
        """Every query parameter, and every form or JSON field, set to ``value``."""
        if method == "GET":
            # Servers refuse request lines past a few kilobytes: a long value a URL can carry.
            send(caller, method, path, query_string={name: value[:URL_VALUE] for name in query_names})
        elif api_body is not None:
            send(caller, method, path, json={name: value for name in api_body})
        else:
            # In chunks: the long value in every field at once would be refused as too large.
            size = LONG_FIELDS_PER_REQUEST if value is LONG else len(names)
            for start in range(0, len(names), size):
                send(caller, method, path, data={name: value for name in names[start : start + size]})

    for rule in rules:
        is_api = rule.rule.startswith("/api/")
        for method in sorted({"GET", "POST"} & set(rule.methods or ())):
            caller = caller_for(app, rule, method)
            if caller is None:
                continue
            if rule.endpoint == "auth.logout":
                continue  # takes no input; it would only end the sweep's session
            names = web_names
            if not is_api and method == "POST" and "GET" in (rule.methods or ()):
                # The page's own field names, prefixed ones included (one form per product).
                page = world.send(caller, "GET", fill_path(rule, "x", "1"))
                names = sorted(set(names) | set(_FIELD_NAME.findall(page.get_data(as_text=True))))
            query_names = sorted(api_query) if is_api else names
            if "<" in rule.rule:
                target = fill_path_validly(rule, world.valid)
                # Integer parameters take digits only: their hostile values are the few ids.
                only_ids = not re.search(r"<(?!int:)", rule.rule)
                for index, value in enumerate(HOSTILE_IDS if only_ids else HOSTILE):
                    send(caller, method, fill_path(rule, value, HOSTILE_IDS[index % len(HOSTILE_IDS)]))
            else:
                target = rule.rule
            for value in HOSTILE:
                send_fields(caller, method, target, value, names, query_names, api_body if is_api else None)
            # Nothing at all: no query, no fields, no body.
            send(caller, method, target)

    elapsed = time.monotonic() - started
    assert not errors, f"{len(errors)} server errors in {requests} requests:\n" + "\n".join(errors)
    assert requests > 1500, "the sweep no longer reaches the routes"
    print(f"hostile-input sweep: {requests} requests, {len(rules)} routes, 0 server errors, {elapsed:.1f} s")


def test_an_id_too_large_for_the_database_is_not_found(world):
    # It used to reach the database driver, which cannot bind it: "Python int too large to convert
    # to SQLite INTEGER" (psycopg: "integer out of range"), a 500.
    admin = Caller("reseller_admin (logged in)", Via.SESSION, Role.RESELLER_ADMIN)
    for too_large in (str(2**31), str(2**63), "9" * 30):
        assert world.send(admin, "GET", f"/reseller/invoices/{too_large}").status_code == 404
        assert (
            world.send(admin, "POST", f"/reseller/provisioning/seats/{too_large}/cancel").status_code == 404
        )
    # The largest id a row can have is still an id.
    assert world.send(admin, "GET", f"/reseller/invoices/{2**31 - 1}").status_code == 404
    assert (
        world.send(admin, "GET", f"/reseller/provisioning/seats/{world.valid['seat_id']}").status_code == 200
    )


ADMIN = Caller("reseller_admin (logged in)", Via.SESSION, Role.RESELLER_ADMIN)


def test_a_nul_in_a_name_in_the_url_is_not_found(world):
    # PostgreSQL refuses a NUL even in the parameters of a lookup: each of these was a 500 there.
    for path in (
        "/reseller/clients/ac%00me",
        "/reseller/integrations/walk%00rmm",
        "/client/catalog/vo%00ip/order",
    ):
        assert world.send(ADMIN, "GET", path).status_code == 404, path
    assert world.send(ADMIN, "POST", "/reseller/price-book/products/vo%00ip", data={}).status_code == 404


def test_a_nul_typed_into_a_form_or_a_search_is_never_a_server_error(world):
    # The client search drops it (it can be in no name) and still finds the client.
    found = world.send(ADMIN, "GET", "/reseller/clients", query_string={"q": "ac\x00me"})
    assert found.status_code == 200 and 'href="/reseller/clients/acme"' in found.get_data(as_text=True)
    # A token's name says so, next to the field.
    named = world.send(ADMIN, "POST", "/reseller/integrations/walk-rmm/tokens", data={"name": "RMM\x00"})
    assert named.status_code == 422
    assert "without control characters" in named.get_data(as_text=True)
    # A product code in a form names no product.
    policy = world.send(ADMIN, "POST", "/reseller/trueups/policies", data={"product": "voip\x00"})
    assert policy.status_code == 302
    assert "No product with this code." in world.send(ADMIN, "GET", "/reseller/trueups/").get_data(
        as_text=True
    )
