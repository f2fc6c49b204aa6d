"""Every route that changes something under /reseller/ refuses reseller staff, unless allowed.

docs/consoles.md ("Who may do what"): both reseller roles review, hold, release and approve bills, mark the
SPLA report submitted and download exports; everything else that changes a client, a price, a user
or the platforms is for reseller administrators only. The sweep walks the whole URL map, so a new
route that forgets its role check fails here.
"""

from __future__ import annotations

import re

from portal.accounts.models import Role

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}

# Endpoints reseller staff may use to change things: the billing clerk's daily work.
STAFF_MAY = {
    "review.hold",
    "review.release",
    "review.approve",
    "review.approve_all",
    "review.close",
    "filing.spla_submitted",
}


def _mutating_reseller_routes(app) -> list[tuple[str, str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/reseller/"):
            continue
        for method in sorted((rule.methods or set()) & MUTATING):
            path = re.sub(r"<int:[^>]+>", "1", rule.rule)
            path = re.sub(r"<period>", "2026-10", path)
            path = re.sub(r"<[^>]+>", "acme", path)
            routes.append((rule.endpoint, method, path))
    return routes


def test_staff_are_refused_every_change_outside_the_allow_list(app, client, make_user, login):
    routes = _mutating_reseller_routes(app)
    assert {endpoint for endpoint, _, _ in routes} >= STAFF_MAY, "the allow-list names a route that is gone"
    login(make_user(Role.RESELLER_STAFF))

    allowed_anyway = [
        f"{method} {path} ({endpoint}) answered {status}"
        for endpoint, method, path in routes
        if endpoint not in STAFF_MAY
        and (status := client.open(path, method=method, data={"reason": "x"}).status_code) != 403
    ]

    assert allowed_anyway == []
