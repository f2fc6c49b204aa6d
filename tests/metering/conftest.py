"""Fixtures for metering tests: a month player and a clock that travels; and the reseller console's
business (September billed, October closed for review) for the services its pages call."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import time_machine

from tests.metering.months import Month
from tests.portal.reseller.conftest import business, clock, open_month

__all__ = ["business", "clock", "month", "open_month", "travel"]


@pytest.fixture
def month(app, catalog) -> Month:
    return Month()


@pytest.fixture
def travel() -> Iterator[Any]:
    """``travel("2026-11-02T12:00:00Z")`` moves the clock (ticking) until the test ends or it moves again."""
    travellers: list[time_machine.travel] = []

    def _go(when: str | datetime) -> None:
        if travellers:
            travellers.pop().stop()
        traveller = time_machine.travel(when, tick=True)
        traveller.start()
        travellers.append(traveller)

    yield _go
    for traveller in travellers:
        traveller.stop()
