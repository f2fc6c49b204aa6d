"""Idempotency-Key: a retried POST answers the first response and does nothing twice."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

import portal.api.idempotency
import portal.api.orders
from portal import create_app
from portal.accounts.models import Role
from portal.accounts.services import create_client
from portal.accounts.token_services import create_api_token
from portal.api.models import IdempotencyKey
from portal.audit.services import Actor
from portal.catalog.services import seed_catalog
from portal.db import db
from portal.orders.models import Order
from tests.conftest import app_overrides
from tests.portal.api.conftest import error_of

ORDER = {"product": "desktop", "quantity": 2}


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def _orders() -> int | None:
    return db.session.scalar(select(func.count(Order.id)))


def test_the_same_key_and_body_answers_the_first_response_and_orders_once(acme_api):
    key = _key()
    first = acme_api.post("/orders", ORDER, headers=key)
    second = acme_api.post("/orders", ORDER, headers=key)

    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _orders() == 1


def test_the_same_body_written_differently_is_the_same_request(acme_api):
    key = _key()
    first = acme_api.post("/orders", raw='{"product":"desktop","quantity":2}', headers=key)
    second = acme_api.post("/orders", raw='{ "quantity": 2,\n "product": "desktop" }', headers=key)

    assert second.get_json() == first.get_json()
    assert _orders() == 1


def test_the_same_key_with_a_different_body_is_a_409_and_does_nothing(acme_api):
    key = _key()
    acme_api.post("/orders", ORDER, headers=key)

    response = acme_api.post("/orders", {"product": "desktop", "quantity": 3}, headers=key)

    assert response.status_code == 409
    assert error_of(response)["code"] == "idempotency_key_reused"
    assert _orders() == 1


def test_the_same_key_on_another_route_is_a_409(acme_api):
    key = _key()
    acme_api.post("/end-users", {"name": "Ann", "email": "ann@acme.com"}, headers=key)

    response = acme_api.post("/orders", ORDER, headers=key)

    assert response.status_code == 409
    assert _orders() == 0


def test_keys_belong_to_one_token(acme, acme_api, make_token, api_as):
    other_api = api_as(make_token(Role.CLIENT_ADMIN, acme))
    key = _key()

    first = acme_api.post("/orders", ORDER, headers=key)
    other = other_api.post("/orders", ORDER, headers=key)

    assert other.status_code == 201
    assert other.get_json() != first.get_json()
    assert _orders() == 2


def test_a_failed_request_is_not_remembered_so_it_can_be_corrected(acme_api):
    key = _key()
    failed = acme_api.post("/orders", {"product": "desktop", "quantity": 0}, headers=key)
    corrected = acme_api.post("/orders", ORDER, headers=key)

    assert failed.status_code == 422
    assert corrected.status_code == 201
    assert _orders() == 1


def test_each_post_route_honours_the_key(acme_api, acme, make_end_user, make_seats):
    ann = make_end_user(acme, "Ann", "ann@acme.com")
    seat = make_seats(acme, "desktop")[0]
    key = _key()

    first = acme_api.post(f"/seats/{seat.id}/assign", {"end_user": ann.id}, headers=key)
    acme_api.post(f"/seats/{seat.id}/unassign")
    replayed = acme_api.post(f"/seats/{seat.id}/assign", {"end_user": ann.id}, headers=key)

    assert replayed.get_json() == first.get_json()
    # The replay did not assign the seat again.
    assert acme_api.get(f"/seats/{seat.id}").get_json()["end_user"] is None


def test_a_malformed_key_is_a_400(acme_api):
    response = acme_api.post("/orders", ORDER, headers={"Idempotency-Key": "x" * 256})

    assert response.status_code == 400
    assert "Idempotency-Key" in error_of(response)["fields"]
    assert _orders() == 0


def test_an_effect_that_fails_after_its_changes_leaves_neither_the_changes_nor_the_key(acme_api, monkeypatch):
    real_place_order = portal.api.orders.place_order

    def place_then_crash(*args, **kwargs):
        real_place_order(*args, **kwargs)
        raise RuntimeError("the process died here")

    monkeypatch.setattr(portal.api.orders, "place_order", place_then_crash)
    key = _key()
    with pytest.raises(RuntimeError):
        acme_api.post("/orders", ORDER, headers=key)
    db.session.rollback()

    assert _orders() == 0
    assert db.session.scalar(select(func.count(IdempotencyKey.id))) == 0
    monkeypatch.setattr(portal.api.orders, "place_order", real_place_order)
    assert acme_api.post("/orders", ORDER, headers=key).status_code == 201


@pytest.fixture
def committing_app(scratch_databases, tmp_path):
    """An app on its own database whose requests really commit, each on its own connection."""
    url = scratch_databases.create_migrated("api_concurrency")
    app = create_app(app_overrides(url, tmp_path / "instance"))
    with app.app_context():
        seed_catalog(Actor.system("tests"))
        client = create_client(Actor.system("tests"), "acme", "Acme")
        _, raw = create_api_token(Actor.system("tests"), "concurrency", Role.CLIENT_ADMIN, client)
        db.session.commit()
    yield app, raw
    app.extensions["seatmeter.db"].engine.dispose()


def test_two_concurrent_requests_with_one_key_order_once(committing_app, monkeypatch):
    app, raw = committing_app
    both_claiming = threading.Barrier(2, timeout=10)
    real_claim = portal.api.idempotency._claim
    real_place_order = portal.api.orders.place_order

    def claim_together(*args, **kwargs):
        both_claiming.wait()
        return real_claim(*args, **kwargs)

    def slow_place_order(*args, **kwargs):
        order = real_place_order(*args, **kwargs)
        time.sleep(0.5)  # the other request tries to claim the key meanwhile
        return order

    monkeypatch.setattr(portal.api.idempotency, "_claim", claim_together)
    monkeypatch.setattr(portal.api.orders, "place_order", slow_place_order)
    headers = {"Authorization": f"Bearer {raw}", **_key()}

    def send():
        return app.test_client().post("/api/v1/orders", json=ORDER, headers=headers)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(send)
        # Authenticate one after the other (SQLite cannot upgrade two concurrent readers to
        # writers); the race that matters is on the key, which both then claim together.
        time.sleep(0.2)
        second = pool.submit(send)
        responses = [first.result(timeout=30), second.result(timeout=30)]

    assert [response.status_code for response in responses] == [201, 201]
    assert responses[0].get_json() == responses[1].get_json()
    assert sorted(response.headers.get("Idempotent-Replayed", "") for response in responses) == ["", "true"]
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 1
