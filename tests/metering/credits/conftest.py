"""An issued October invoice to credit and pay: Acme's one desktop, 39.00, finalized on Nov 2."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from metering.billing.models import Invoice
from portal.accounts.models import Client
from portal.db import db
from tests.metering.months import Month, event


@pytest.fixture
def acme(make_client) -> Client:
    return make_client("acme", "Acme Law LLP")


@pytest.fixture
def october(month: Month, acme: Client, travel) -> Invoice:
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    db.session.expire_all()
    return db.session.scalars(select(Invoice).where(Invoice.period == "2026-10")).one()
