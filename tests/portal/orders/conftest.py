"""Fixtures for the client's order and seat pages: two clients, their people, a logged-in admin."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Client, EndUser, Role, User
from portal.audit.services import Actor
from portal.db import db

TESTS = Actor.system("tests")


@dataclass
class Tenant:
    client: Client
    admin: User | None
    alice: EndUser
    bob: EndUser


@pytest.fixture
def acme(catalog, make_client, make_user) -> Tenant:
    client = make_client("acme", "Acme Law LLP")
    admin = make_user(Role.CLIENT_ADMIN, client, email="grace@acme.example")
    alice = add_end_user(TESTS, client, "Alice Ward", "alice@acme.example", "201")
    bob = add_end_user(TESTS, client, "Bob Stone", "bob@acme.example", "202")
    db.session.commit()
    return Tenant(client, admin, alice, bob)


@pytest.fixture
def other(catalog, make_client) -> Tenant:
    client = make_client("other", "Other Dental")
    # Nobody of this client logs in; its administrator would only cost a password hash.
    admin = None
    mallory = add_end_user(TESTS, client, "Mallory Secret", "mallory@other.example", "301")
    trent = add_end_user(TESTS, client, "Trent Hidden", "trent@other.example", "302")
    db.session.commit()
    return Tenant(client, admin, mallory, trent)


@pytest.fixture
def as_acme_admin(acme, login) -> Tenant:
    login(acme.admin)
    return acme
