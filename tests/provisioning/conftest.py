"""Helpers for the provisioning tests: people, orders, and running a seat's steps in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Client, EndUser
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db
from portal.orders.models import Order, Seat
from provisioning import engine, place_order

ACTOR = Actor.system("tests")


@pytest.fixture
def local_kamailio(app: Flask, tmp_path: Path) -> str:
    """VoIP seats go to a Kamailio-schema SQLite database of this test (no registrar running)."""
    url = f"sqlite:///{tmp_path / 'kamailio.sqlite'}"
    app.config["KAMAILIO_DB_URL"] = url
    app.config["SIP_DOMAIN"] = "seats.test"
    app.extensions.pop("seatmeter.adapters", None)
    return url


@pytest.fixture
def acme(catalog, make_client) -> Client:
    return make_client("acme")


@pytest.fixture
def person(acme):
    def _person(name: str, client: Client | None = None) -> EndUser:
        client = client or acme
        user = add_end_user(ACTOR, client, name.title(), f"{name}@{client.ref}.example")
        db.session.commit()
        return user

    return _person


def order(client: Client, product: str, quantity: int = 1, users: list[EndUser] | None = None) -> Order:
    placed = place_order(ACTOR, client, get_product(product), quantity, users or [])
    db.session.commit()
    return placed


def run_steps(seat: Seat, limit: int = 10) -> list[str]:
    """Take the seat's steps one by one, as a worker would; the actions taken, in order."""
    actions = []
    for _ in range(limit):
        claim = engine.claim(seat.id, "in-process")
        db.session.commit()
        if claim is None:
            break
        retry_in = engine.finish(claim, engine.perform(claim))
        db.session.commit()
        actions.append(claim.action.value if retry_in is None else f"{claim.action.value} (retry)")
    db.session.refresh(seat)
    return actions
