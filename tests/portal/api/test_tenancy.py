"""Two clients: every route tried with the other client's ids is a 404, and nothing changes."""

from __future__ import annotations

import re

import pytest

from portal.api.openapi import DOCUMENT, PREFIX
from portal.db import db
from portal.orders.models import DesiredState, Seat
from tests.portal.api.conftest import error_of

# A valid body for every operation that takes one, so that only the ids in the path can fail.
BODIES = {
    "change_end_user": lambda ids: {"name": "Changed"},
    "assign": lambda ids: {"end_user": ids["own_end_user"]},
    "unassign": lambda ids: {},
    "retry": lambda ids: {},
    "sip_password": lambda ids: {},
}


# Ids whose routes are tried here; invoice routes are tried with another client's invoices in
# test_billing.py, next to the invoices they need.
IDS_TRIED_HERE = {"seat_id", "end_user_id"}
# An integration's source and organisation ids belong to the reseller, not to a client; an integration
# token reaching another integration's is tried in test_integrations.py.
IDS_TRIED_ELSEWHERE = {"invoice_id", "source", "external_org"}


def _id_names(path: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", path))


def _operations_with_ids() -> list[tuple[str, str, str]]:
    found = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            if _id_names(path) and _id_names(path) <= IDS_TRIED_HERE:
                found.append((method, path.removeprefix(PREFIX), operation["operationId"]))
    return found


@pytest.fixture
def two_clients(acme, bright, make_end_user, make_seats):
    ann = make_end_user(acme, "Ann", "ann@acme.com")
    acme_seat = make_seats(acme, "desktop", 1, [ann])[0]
    bo = make_end_user(bright, "Bo", "bo@bright.example")
    return {"seat_id": acme_seat.id, "end_user_id": ann.id, "own_end_user": bo.id}


def _call(api, method, path, operation_id, ids):
    url = re.sub(r"\{(\w+)\}", lambda match: str(ids[match.group(1)]), path)
    if method in ("get", "delete"):
        return getattr(api, method)(url)
    if operation_id not in BODIES:
        raise AssertionError(f"add a body for {operation_id} to BODIES")
    return getattr(api, method)(url, BODIES[operation_id](ids))


@pytest.mark.parametrize(("method", "path", "operation_id"), _operations_with_ids())
def test_another_clients_ids_are_not_found(
    two_clients, make_token, api_as, bright, method, path, operation_id
):
    from portal.accounts.models import Role

    bright_api = api_as(make_token(Role.CLIENT_ADMIN, bright))

    response = _call(bright_api, method, path, operation_id, two_clients)

    assert response.status_code == 404, response.get_data(as_text=True)
    assert error_of(response)["code"] == "not_found"
    seat = db.session.get(Seat, two_clients["seat_id"])
    assert seat.end_user_id == two_clients["end_user_id"]
    assert seat.desired_state is DesiredState.ACTIVE


@pytest.mark.parametrize(("method", "path", "operation_id"), _operations_with_ids())
def test_a_reseller_acting_for_one_client_cannot_reach_anothers_ids(
    two_clients, reseller_api, method, path, operation_id
):
    url_ids = dict(two_clients)
    response = _call(reseller_api, method, path + "?client=bright", operation_id, url_ids)

    assert response.status_code == 404, response.get_data(as_text=True)


def test_every_route_with_ids_is_tried_here_or_elsewhere():
    for path in DOCUMENT["paths"]:
        assert _id_names(path) <= IDS_TRIED_HERE | IDS_TRIED_ELSEWHERE, (
            f"try {path} with another client's ids"
        )
    assert {operation_id for *_, operation_id in _operations_with_ids()} >= set(BODIES)
    assert len(_operations_with_ids()) >= 8


@pytest.mark.parametrize("path", ["/seats", "/end-users"])
def test_a_client_token_naming_another_client_is_a_404(two_clients, acme_api, path):
    response = acme_api.get(path + "?client=bright")

    assert response.status_code == 404


def test_a_client_token_naming_itself_is_fine(two_clients, acme_api):
    assert acme_api.get("/seats?client=acme").status_code == 200
    assert acme_api.post("/orders", {"client": "acme", "product": "voip", "quantity": 1}).status_code == 201


def test_lists_show_only_the_clients_own_objects(two_clients, acme_api, api_as, make_token, bright):
    from portal.accounts.models import Role

    bright_api = api_as(make_token(Role.CLIENT_ADMIN, bright))

    assert [seat["id"] for seat in acme_api.get("/seats").get_json()["seats"]] == [two_clients["seat_id"]]
    assert bright_api.get("/seats").get_json() == {"seats": [], "next_after": None, "next": None}
    assert [person["email"] for person in bright_api.get("/end-users").get_json()["end_users"]] == [
        "bo@bright.example"
    ]


def test_ordering_for_another_clients_end_user_is_refused(two_clients, acme_api):
    response = acme_api.post(
        "/orders", {"product": "exchange", "quantity": 1, "end_users": [two_clients["own_end_user"]]}
    )

    assert response.status_code == 422


def test_assigning_another_clients_end_user_is_refused(two_clients, acme_api):
    response = acme_api.post(
        f"/seats/{two_clients['seat_id']}/assign", {"end_user": two_clients["own_end_user"]}
    )

    assert response.status_code == 422
    seat = db.session.get(Seat, two_clients["seat_id"])
    assert seat.end_user_id == two_clients["end_user_id"]
