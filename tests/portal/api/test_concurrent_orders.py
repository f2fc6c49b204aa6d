"""Fault: two administrators of one client order at the same instant, each request on its own
connection of a committed database. Orders for different seats both go through, every seat once;
two orders naming the same person for a desktop give that person one desktop, not two (the second
is refused in plain words), and the audit log tells what happened."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

import portal.api.orders
from portal import create_app
from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Role
from portal.accounts.services import create_client, create_user_with_password
from portal.accounts.token_services import create_api_token
from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.catalog.services import seed_catalog
from portal.db import db
from portal.orders.models import Order, Seat
from tests.conftest import TEST_PASSWORD, ScratchDatabases, app_overrides
from tests.portal.api.conftest import error_of

pytestmark = pytest.mark.faults
TESTS = Actor.system("tests")


@pytest.fixture
def two_admins(scratch_databases: ScratchDatabases, tmp_path) -> Iterator[dict[str, Any]]:
    url = scratch_databases.create_migrated(f"two_admins_{secrets.token_hex(4)}")
    app = create_app(app_overrides(url, tmp_path / "instance"))
    with app.app_context():
        seed_catalog(TESTS)
        acme = create_client(TESTS, "acme", "Acme")
        headers = []
        for email in ("ann@acme.example", "ben@acme.example"):
            admin = create_user_with_password(TESTS, email, email, Role.CLIENT_ADMIN, acme, TEST_PASSWORD)
            _, raw = create_api_token(TESTS, f"{email}'s token", Role.CLIENT_ADMIN, acme, admin)
            headers.append({"Authorization": f"Bearer {raw}"})
        dana = add_end_user(TESTS, acme, "Dana", "dana@acme.example")
        db.session.commit()
        dana_id = dana.id
    yield {"app": app, "headers": headers, "dana": dana_id}
    app.extensions["seatmeter.db"].engine.dispose()


def _at_once(app: Flask, monkeypatch: pytest.MonkeyPatch, orders: list[tuple[dict[str, str], dict]]) -> list:
    """Send the orders at the same instant; each commits a moment after placing its order, so that
    the other places its own meanwhile (on PostgreSQL; SQLite lets one writer in at a time)."""
    together = threading.Barrier(len(orders), timeout=20)
    real_place_order = portal.api.orders.place_order

    def place_slowly(*args: Any, **kwargs: Any) -> Order:
        order = real_place_order(*args, **kwargs)
        time.sleep(0.3)
        return order

    monkeypatch.setattr(portal.api.orders, "place_order", place_slowly)

    def send(headers: dict[str, str], body: dict) -> Any:
        http = app.test_client()
        together.wait()
        return http.post("/api/v1/orders", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(orders)) as pool:
        futures = [pool.submit(send, headers, body) for headers, body in orders]
        return [future.result(timeout=60) for future in futures]


def test_two_admins_ordering_at_once_get_every_seat_once(two_admins, monkeypatch):
    app = two_admins["app"]
    ann, ben = two_admins["headers"]

    responses = _at_once(
        app,
        monkeypatch,
        [(ann, {"product": "desktop", "quantity": 3}), (ben, {"product": "exchange", "quantity": 2})],
    )

    assert [response.status_code for response in responses] == [201, 201]
    seat_ids = [seat for response in responses for seat in response.get_json()["seats"]]
    assert len(seat_ids) == len(set(seat_ids)) == 5
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 2
        assert sorted(db.session.scalars(select(Seat.id))) == sorted(seat_ids)
        placed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "order.placed")).all()
        assert sorted(event.details["quantity"] for event in placed) == [2, 3]


def test_two_admins_ordering_a_desktop_for_the_same_person_at_once_give_her_one(two_admins, monkeypatch):
    app = two_admins["app"]
    ann, ben = two_admins["headers"]
    dana = two_admins["dana"]

    responses = _at_once(
        app,
        monkeypatch,
        [
            (ann, {"product": "desktop", "quantity": 2, "end_users": [dana]}),
            (ben, {"product": "desktop", "quantity": 1, "end_users": [dana]}),
        ],
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 409], [response.get_json() for response in responses]
    (refused,) = [response for response in responses if response.status_code == 409]
    assert "Dana already has a desktop seat" in error_of(refused)["message"]
    (placed,) = [response for response in responses if response.status_code == 201]
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 1
        assert sorted(db.session.scalars(select(Seat.id))) == sorted(placed.get_json()["seats"])
        assert db.session.scalar(select(func.count(Seat.id)).where(Seat.end_user_id == dana)) == 1
        assert (
            db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "order.placed"))
            == 1
        )
