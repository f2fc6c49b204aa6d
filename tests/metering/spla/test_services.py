"""The SPLA report: users per client and SKU, per-core packs of hosts in service during the month."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metering.spla.services import add_host, retire_host
from portal.catalog.services import get_sku
from portal.db import db
from portal.errors import Conflict
from tests.metering.months import TESTS, event


def test_hosts_count_in_each_month_they_were_in_service(app, month, make_client):
    app.config["BILLING_TIMEZONE"] = "Europe/Berlin"
    acme = make_client("acme")
    # In service from Oct 1 00:30 Berlin time (Sep 30 in UTC): October only, not September.
    add_host(TESTS, "shared-01", 16, 1, get_sku("WINSTD-2CORE"), datetime(2026, 9, 30, 22, 30, tzinfo=UTC))
    dedicated = add_host(
        TESTS, "acme-01", 4, 2, get_sku("WINDC-2CORE"), datetime(2026, 1, 1, tzinfo=UTC), acme
    )
    # Retired at midnight Berlin time on Oct 1: it held nothing in October.
    retire_host(TESTS, dedicated, datetime(2026, 9, 30, 22, 0, tzinfo=UTC))
    db.session.commit()
    month.events(event("e1", "acme", "a@acme.example", "exchange-plus", "start", "2026-10-31T23:30:00+01:00"))

    assert month.spla("2026-09") == [("acme", "WINDC-2CORE", 8)]  # max(4, 16) / 2
    assert month.spla("2026-10") == [(None, "WINSTD-2CORE", 8), ("acme", "EXSTDPLUS-SAL", 1)]
    assert month.spla("2026-11") == [(None, "WINSTD-2CORE", 8), ("acme", "EXSTDPLUS-SAL", 1)]
    with pytest.raises(Conflict):
        retire_host(TESTS, dedicated, datetime(2026, 11, 1, tzinfo=UTC))
