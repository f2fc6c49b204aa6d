"""Handing a seat to the workers: after the commit that asked for it, and again by the sweep."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from portal.celery_app import enqueue_after_commit
from portal.db import utcnow
from portal.orders.models import Seat
from provisioning.lifecycle import plan
from provisioning.models import SeatWork


def schedule(seat: Seat) -> bool:
    """Queue the seat's next step once the current transaction commits; False if none is due.

    The seat also gets a sweep deadline: if the message is lost (broker down, worker killed), the
    periodic sweep sends it again after PROVISIONING_SWEEP_SECONDS.
    """
    work = SeatWork.of(seat)
    if plan(seat) is None:
        work.sweep_after = None
        return False
    work.sweep_after = utcnow() + timedelta(seconds=current_app.config["PROVISIONING_SWEEP_SECONDS"])
    # A broker that is down is logged, not raised: the sweep sends it again.
    enqueue_after_commit(
        "provisioning.reconcile_seat", seat.id, queue=current_app.config["PROVISIONING_QUEUE"]
    )
    return True
