"""Handing a seat to the workers: after the commit that asked for it, and again by the sweep."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from portal.db import after_commit, db, utcnow
from portal.orders.models import Seat
from provisioning.lifecycle import plan
from provisioning.models import SeatWork

log = logging.getLogger("seatmeter.provisioning")


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
    seat_id = seat.id
    after_commit(db.session, lambda: enqueue(seat_id))
    return True


def enqueue(seat_id: int, countdown: float | None = None) -> None:
    """Send the task now. A broker that is down is logged, not raised: the sweep heals it."""
    # Through this Flask app's own Celery app (not Celery's process-wide default, which is whichever
    # app was created last), so the message goes to this installation's broker and queue.
    celery = current_app.extensions["celery"]
    try:
        celery.send_task(
            "provisioning.reconcile_seat",
            args=[seat_id],
            queue=current_app.config["PROVISIONING_QUEUE"],
            countdown=countdown,
        )
    except Exception as exc:  # any broker failure: the data is already committed
        log.warning("could not queue seat #%s (%s); the sweep will retry", seat_id, exc)
