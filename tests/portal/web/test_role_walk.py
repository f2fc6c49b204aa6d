"""Every route that changes something lets exactly the roles it declares past authorization.

The walk takes the whole URL map, so a route added later is tried too: each POST, PUT, PATCH and
DELETE is sent as every caller there is (anonymous, a logged-in person of each role, an API token of
each role) and the answer must match the route's declaration (portal.auth.access): the declared
callers get past authorization (any answer but 401, 403 or a redirect to the login page), every
other caller is refused. A changing route without a declaration fails the test by name.

Path parameters name nothing that exists (an id of 999999, a client "nosuch"), so a caller that gets
past authorization meets a 404 or a form error rather than changing data other routes need.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

from portal.accounts.models import Role, User
from portal.auth.access import Via, access_of
from tests.portal.web.callers import CALLERS, Caller, Callers, may_pass, refused

MUTATING = ("POST", "PUT", "PATCH", "DELETE")


def mutating_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) for every changing route, its parameters filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted(set(rule.methods or ()) & set(MUTATING)):
            path = re.sub(r"<int:[^>]+>", "999999", rule.rule)
            path = re.sub(r"<period>", "2026-10", path)
            path = re.sub(r"<(?:[a-z]+:)?[^>]+>", "nosuch", path)
            routes.append((rule.endpoint, method, path))
    return routes


@pytest.fixture
def callers(app, make_client, make_user, catalog) -> Callers:
    acme = make_client("acme")
    people: dict[Role, User] = {
        role: make_user(role, None if role.is_reseller else acme)
        for role in Role
        if role is not Role.INTEGRATION
    }
    return Callers(app, acme, people)


def test_every_changing_route_declares_who_may_use_it(app):
    undeclared = sorted(
        f"{method} {path} ({endpoint})"
        for endpoint, method, path in mutating_routes(app)
        if access_of(app.view_functions[endpoint]) is None
    )
    assert undeclared == [], "declare roles (roles_required, signed_in, public, token_required)"


def test_exactly_the_declared_callers_get_past_authorization(app, callers):
    routes = mutating_routes(app)
    # The walk is only as good as what it walks: both consoles, the API and the public forms.
    paths = {path for _, _, path in routes}
    assert {"/login", "/logout", "/api/v1/orders", "/reseller/clients", "/client/users"} <= paths

    wrong = []
    for endpoint, method, path in routes:
        access = access_of(app.view_functions[endpoint])
        if access is None:
            continue  # named by the test above
        for caller in CALLERS:
            response = callers.send(caller, method, path)
            expected = may_pass(access, method, caller)
            if expected == refused(response):
                verdict = "refused" if expected else "let past"
                wrong.append(
                    f"{method} {path} ({endpoint}) as {caller.label}: {verdict}, {response.status_code}"
                )
    assert not wrong, "\n".join(wrong)


STAFF = Caller("reseller_staff (logged in)", Via.SESSION, Role.RESELLER_STAFF)


def test_a_refused_person_is_told_in_plain_words(callers):
    # reseller_staff change nothing on clients (issue 17, finding 2), and are told so.
    response = callers.send(STAFF, "POST", "/reseller/clients/acme/suspend")
    assert response.status_code == 403
    assert "Your account cannot do this." in response.get_data(as_text=True)


def test_a_changing_route_without_a_declaration_is_refused_to_everyone(app, callers):
    # Registered after the app was built, the way a route that forgot its roles would be.
    def undeclared_change() -> str:
        return "changed"

    app.add_url_rule("/client/undeclared", "undeclared_change", undeclared_change, methods=["GET", "POST"])
    for caller in CALLERS:
        assert callers.send(caller, "POST", "/client/undeclared").status_code == 403, caller.label
    # Reading an undeclared page (static files, health checks) is not affected.
    assert app.test_client().get("/client/undeclared").status_code == 200


def test_reading_roles_and_changing_roles_are_checked_apart(app, callers):
    # /reseller/clients: both reseller roles read the list; only the administrator adds a client.
    access = access_of(app.view_functions["accounts.clients"])
    assert access is not None and access.roles_for("GET") != access.roles_for("POST")
    assert callers.send(STAFF, "GET", "/reseller/clients").status_code == 200
    assert callers.send(STAFF, "POST", "/reseller/clients").status_code == 403
