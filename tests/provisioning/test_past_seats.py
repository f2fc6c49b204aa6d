"""record_past_seat: a seat's history before this installation knew it (the demo's year, an import)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from metering.ledger.models import LedgerInterval
from portal.catalog.services import get_product
from portal.db import db, utcnow
from portal.errors import InvalidInput
from portal.orders.models import DesiredState, SeatState
from provisioning import record_past_seat
from tests.provisioning.conftest import ACTOR, run_steps


def _intervals(seat):
    query = select(LedgerInterval).where(LedgerInterval.seat_id == seat.id).order_by(LedgerInterval.id)
    return [(i.start_at, i.stop_at) for i in db.session.scalars(query)]


def test_a_seat_that_ended_counts_exactly_the_months_it_was_in_service(acme, person):
    now = utcnow()
    start, stop = now - timedelta(days=200), now - timedelta(days=90)
    seat = record_past_seat(
        ACTOR, acme, get_product("exchange"), person("dan"), start=start, stop=stop, now=now
    )
    db.session.commit()

    assert seat.state is SeatState.TERMINATED and seat.desired_state is DesiredState.TERMINATED
    assert seat.order.created_at == start
    assert [(a.replace(tzinfo=None), b.replace(tzinfo=None)) for a, b in _intervals(seat)] == [
        (start.replace(tzinfo=None), stop.replace(tzinfo=None))
    ]


def test_a_seat_still_in_service_is_made_again_on_the_platform(acme, person, local_kamailio):
    now = utcnow()
    start = now - timedelta(days=300)
    seat = record_past_seat(
        ACTOR, acme, get_product("voip"), person("alice"), start=start, stop=None, now=now
    )
    db.session.commit()

    # Counted from its start until now; the workers create its account, then it counts again.
    assert seat.state is SeatState.PROVISIONING and seat.desired_state is DesiredState.ACTIVE
    assert seat.activated_at.replace(tzinfo=None) == start.replace(tzinfo=None)
    assert run_steps(seat) == ["create"]
    assert seat.state is SeatState.ACTIVE
    history = _intervals(seat)
    assert history[0][0].replace(tzinfo=None) == start.replace(tzinfo=None)
    assert history[-1][1] is None


def test_a_past_seat_cannot_end_in_the_future(acme, person):
    now = utcnow()
    with pytest.raises(InvalidInput):
        record_past_seat(
            ACTOR,
            acme,
            get_product("exchange"),
            person("eve"),
            start=now,
            stop=now + timedelta(days=1),
            now=now,
        )
