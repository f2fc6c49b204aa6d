"""Whatever a browser (or someone with curl) sends to the client pages, the answer is never a 500."""

from __future__ import annotations

import pytest

from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db
from provisioning import place_order

TESTS = Actor.system("tests")
HUGE = str(10**30)
GARBAGE = [
    {},
    {"quantity": "", "end_users": ""},
    {"quantity": HUGE, "end_users": [HUGE, "-1", "x", ""]},
    {"quantity": "2", "end_users": ["1", "1"]},
    {"quantity": "\x00", "end_users": "\u202e1"},
    {"count": HUGE, "seat_ids": [HUGE, "0", "-5", "abc"]},
    {"end_user": HUGE, "name": "x" * 5000, "email": "@" * 300, "extension": "1" * 100},
    {"quoted_unit_minor": "NaN", "nonce": "../../etc", "quantity": "1"},
    {"name": "A\x00B", "email": "a\x00@acme.example", "extension": "1\x00"},
]


@pytest.mark.parametrize("data", GARBAGE)
def test_garbage_posts_are_answered_without_a_server_error(client, as_acme_admin, data):
    seat = place_order(TESTS, as_acme_admin.client, get_product("voip"), 1).seats[0]
    db.session.commit()
    person = as_acme_admin.alice.id
    paths = [
        "/client/catalog/desktop/order",
        "/client/catalog/desktop/order/place",
        "/client/catalog/voip/seats",
        "/client/catalog/voip/seats/cancel",
        f"/client/seats/{seat.id}/assign",
        f"/client/seats/{seat.id}/unassign",
        f"/client/seats/{seat.id}/retry",
        "/client/end-users/",
        f"/client/end-users/{person}/edit",
        f"/client/seats/{HUGE}/assign",
        f"/client/end-users/{HUGE}/edit",
    ]

    for path in paths:
        response = client.post(path, data=data)
        assert response.status_code < 500, (path, response.status_code)


@pytest.mark.parametrize(
    "path",
    [
        "/client/seats/states.json?ids=" + ",".join([HUGE, "-1", "x", "", "1" * 11]),
        "/client/seats/states.json?ids=" + ",".join(str(i) for i in range(5000)),
        "/client/orders?page=" + HUGE,
        "/client/seats/?show=" + "x" * 3000,
        f"/client/orders/{HUGE}",
        "/client/catalog/%00/order",
        "/client/catalog/" + "x" * 500 + "/seats",
    ],
)
def test_odd_urls_are_answered_without_a_server_error(client, as_acme_admin, path):
    assert client.get(path).status_code < 500
