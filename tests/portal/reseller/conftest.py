"""Fixtures for the reseller console: a business with September billed and October closed for review."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from metering.billing.finalize import finalize_period
from metering.periods import BillingPeriod
from portal.accounts.models import Role, User
from portal.db import utcnow
from portal.transactions import task_transaction
from tests.portal.reseller.world import SETUP, UTC_ZONE, Business, build_business, close

SEPTEMBER = BillingPeriod(2026, 9)
OCTOBER = BillingPeriod(2026, 10)
# Early November: October is over and its SPLA report is due on the 10th.
NOW = "2026-11-03T12:00:00Z"


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def open_month(app, catalog, clock) -> Business:
    """September billed and finalized; October is over and nobody has closed it yet."""
    world = build_business(OCTOBER)
    close(SEPTEMBER)
    with task_transaction():
        finalize_period(SETUP, SEPTEMBER, UTC_ZONE, utcnow())
    return world


@pytest.fixture
def business(open_month: Business) -> Business:
    """September billed and finalized, October closed: its drafts wait for review."""
    close(OCTOBER)
    return open_month


@pytest.fixture
def queued(app, monkeypatch) -> list[tuple[str, list[Any]]]:
    """The jobs sent to the broker (through the app's own Celery app), to run them in-process as
    workers on other hosts would."""
    sent: list[tuple[str, list[Any]]] = []
    monkeypatch.setattr(
        app.extensions["celery"], "send_task", lambda name, args, **kw: sent.append((name, list(args)))
    )
    return sent


@pytest.fixture
def admin(make_user, login) -> User:
    user = make_user(Role.RESELLER_ADMIN, email="ada@northwind-it.example")
    login(user)
    return user


@pytest.fixture
def staff(make_user, login) -> User:
    user = make_user(Role.RESELLER_STAFF, email="sam@northwind-it.example")
    login(user)
    return user
