"""Isolation of clients on the web: every client route tried with the other client's ids is a 404,
and roles: a client user cannot order or manage, reseller staff have no client pages."""

from __future__ import annotations

import pytest

from portal.accounts.models import EndUser, Role
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db
from portal.orders.models import DesiredState, Seat
from provisioning import place_order

# Every client route that takes an id, with how it is called. A new one must be added here: the
# last test fails otherwise.
ID_ROUTES: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    "/client/seats/<int:seat_id>": [("GET", "/client/seats/{seat}", {})],
    "/client/seats/<int:seat_id>/assign": [
        ("POST", "/client/seats/{seat}/assign", {"end_user": "{own_person}"}),
        ("POST", "/client/seats/{seat}/assign", {"end_user": "{person}"}),
    ],
    "/client/seats/<int:seat_id>/unassign": [("POST", "/client/seats/{seat}/unassign", {})],
    "/client/seats/<int:seat_id>/cancel": [("POST", "/client/seats/{seat}/cancel", {})],
    "/client/seats/<int:seat_id>/retry": [("POST", "/client/seats/{seat}/retry", {})],
    "/client/seats/<int:seat_id>/phone-password": [("POST", "/client/seats/{seat}/phone-password", {})],
    "/client/seats/<int:seat_id>/reset-phone-password": [
        ("POST", "/client/seats/{seat}/reset-phone-password", {})
    ],
    "/client/orders/<int:order_id>": [("GET", "/client/orders/{order}", {})],
    "/client/end-users/<int:end_user_id>/edit": [
        ("GET", "/client/end-users/{person}/edit", {}),
        ("POST", "/client/end-users/{person}/edit", {"name": "Hijacked", "email": "x@acme.example"}),
    ],
    "/client/end-users/<int:end_user_id>/remove": [
        ("GET", "/client/end-users/{person}/remove", {}),
        ("POST", "/client/end-users/{person}/remove", {}),
    ],
}
# Routes whose ids travel in the form or the query string rather than the path.
BODY_ID_ROUTES = {
    "/client/catalog/<code>/seats/cancel": (
        "POST",
        "/client/catalog/voip/seats/cancel",
        {"seat_ids": "{seat}"},
    ),
}

TESTS = Actor.system("tests")


@pytest.fixture
def theirs(other) -> dict[str, int]:
    order = place_order(TESTS, other.client, get_product("voip"), 2, [other.alice])
    db.session.commit()
    return {"seat": order.seats[0].id, "order": order.id, "person": other.alice.id}


def _fill(template: str, ids: dict[str, int]) -> str:
    return template.format(**ids)


@pytest.mark.parametrize(("method", "path", "data"), [call for calls in ID_ROUTES.values() for call in calls])
def test_another_clients_ids_are_not_found(client, as_acme_admin, theirs, other, method, path, data):
    ids = {**theirs, "own_person": as_acme_admin.alice.id}
    form = {key: _fill(value, ids) for key, value in data.items()}

    response = client.open(_fill(path, ids), method=method, data=form)

    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Mallory" not in page
    assert "mallory@other.example" not in page
    db.session.expire_all()
    seat = db.session.get(Seat, theirs["seat"])
    assert seat is not None
    assert (seat.end_user_id, seat.desired_state) == (other.alice.id, DesiredState.ACTIVE)
    person = db.session.get(EndUser, theirs["person"])
    assert person is not None
    assert person.name == "Mallory Secret"


@pytest.mark.parametrize(("method", "path", "data"), [call for calls in ID_ROUTES.values() for call in calls])
def test_ids_beyond_any_database_integer_are_not_found(client, as_acme_admin, method, path, data):
    huge = {"seat": 2**70, "order": 2**70, "person": 2**70, "own_person": as_acme_admin.alice.id}

    response = client.open(
        _fill(path, huge), method=method, data={k: _fill(v, huge) for k, v in data.items()}
    )

    assert response.status_code == 404


def test_another_clients_seats_cannot_be_cancelled_through_the_seat_count_form(client, as_acme_admin, theirs):
    method, path, data = BODY_ID_ROUTES["/client/catalog/<code>/seats/cancel"]

    response = client.open(
        path, method=method, data={key: _fill(value, theirs) for key, value in data.items()}
    )

    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Seat, theirs["seat"]).desired_state is DesiredState.ACTIVE


def test_another_clients_person_cannot_be_assigned_to_an_own_seat(client, as_acme_admin, theirs):
    own = place_order(TESTS, as_acme_admin.client, get_product("voip"), 1).seats[0]
    db.session.commit()

    response = client.post(f"/client/seats/{own.id}/assign", data={"end_user": str(theirs["person"])})

    assert response.status_code == 422
    assert "Mallory" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Seat, own.id).end_user_id is None


def test_live_states_never_report_another_clients_seats(client, as_acme_admin, theirs):
    response = client.get(f"/client/seats/states.json?ids={theirs['seat']}")

    assert response.get_json() == {"seats": []}


def test_pages_without_ids_show_only_the_own_client(client, as_acme_admin, theirs):
    for path in ("/client/", "/client/seats/?show=all", "/client/orders", "/client/end-users/"):
        page = client.get(path).get_data(as_text=True)
        assert "Mallory" not in page, path
        assert f'data-seat-id="{theirs["seat"]}"' not in page, path
        assert f"/client/orders/{theirs['order']}" not in page, path


ADMIN_ONLY = [
    ("GET", "/client/catalog"),
    ("GET", "/client/catalog/desktop/order"),
    ("POST", "/client/catalog/desktop/order"),
    ("POST", "/client/catalog/desktop/order/place"),
    ("GET", "/client/catalog/voip/seats"),
    ("POST", "/client/catalog/voip/seats/cancel"),
    ("GET", "/client/orders"),
    ("GET", "/client/orders/1"),
    ("GET", "/client/end-users/"),
    ("POST", "/client/end-users/"),
    ("GET", "/client/end-users/1/edit"),
    ("POST", "/client/end-users/1/remove"),
    ("POST", "/client/seats/1/assign"),
    ("POST", "/client/seats/1/cancel"),
]


def test_a_client_user_can_neither_order_nor_manage(client, acme, make_user, login):
    login(make_user(Role.CLIENT_USER, acme.client, email="alice@acme.example"))

    for method, path in ADMIN_ONLY:
        assert client.open(path, method=method, data={"quantity": "1"}).status_code == 403, path
    home = client.get("/client/").get_data(as_text=True)
    for link in ("/client/catalog", "/client/end-users/", "/client/orders", "/client/users"):
        assert f'href="{link}"' not in home
    assert 'href="/client/seats/"' in home


def test_reseller_users_have_no_client_pages(client, acme, make_user, login):
    login(make_user(Role.RESELLER_ADMIN))

    for method, path in [*ADMIN_ONLY, ("GET", "/client/seats/"), ("GET", "/client/seats/states.json")]:
        assert client.open(path, method=method).status_code == 403, path


def test_logged_out_visitors_are_sent_to_log_in(client, acme):
    for method, path in [*ADMIN_ONLY, ("GET", "/client/seats/states.json")]:
        response = client.open(path, method=method)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login")


def test_every_client_route_with_an_id_is_covered(app):
    # The client pages of this feature; invoices (metering) test their own routes.
    rules = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in {"orders", "seats", "end_users"} and "<" in rule.rule
    }
    covered = (
        set(ID_ROUTES)
        | set(BODY_ID_ROUTES)
        | {
            # Codes of products are the catalog, the same for every client.
            "/client/catalog/<code>/order",
            "/client/catalog/<code>/order/place",
            "/client/catalog/<code>/seats",
        }
    )
    assert rules - covered == set(), "add the new routes to ID_ROUTES"
