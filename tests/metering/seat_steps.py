"""Moving seats in month scenarios the way the workers move them, with the platform's answer given."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from metering.ledger.models import LedgerInterval
from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Client, EndUser
from portal.db import db
from portal.orders.models import Seat
from provisioning import engine
from provisioning.adapters.base import Account, AccountState, AdapterError
from provisioning.lifecycle import Action
from tests.metering.months import TESTS


def step(seat: Seat, *, fails: bool = False) -> str:
    """One worker step of ``seat``; the platform answers with success, or refuses for good."""
    claim = engine.claim(seat.id, "scenario")
    db.session.commit()
    assert claim is not None, f"seat #{seat.id} has no step to take"
    if fails:
        outcome = engine.Outcome(error=AdapterError("The platform refused the change.", retryable=False))
    elif claim.action in (Action.UNASSIGN, Action.TERMINATE):
        outcome = engine.Outcome()
    else:
        outcome = engine.Outcome(account=Account(external_id=f"acct-{seat.id}", state=AccountState.ENABLED))
    engine.finish(claim, outcome)
    db.session.commit()
    db.session.refresh(seat)
    return claim.action.value


def person(client: Client, name: str) -> EndUser:
    user = add_end_user(TESTS, client, name.title(), f"{name}@{client.ref}.example")
    db.session.commit()
    return user


def intervals(seat: Seat) -> list[tuple[str | None, datetime, datetime | None]]:
    db.session.expire_all()
    return [
        (row.user_key, row.start_at, row.stop_at)
        for row in db.session.scalars(
            select(LedgerInterval).where(LedgerInterval.seat_id == seat.id).order_by(LedgerInterval.id)
        )
    ]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
