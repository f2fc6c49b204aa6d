"""A small reseller business to review: clients, people, seats that held licences over the last months,
usage reported by an outside system, cards on file, and closed months.

Built through the services (orders, end users, usage events, month close); the seats are moved
through provisioning's lifecycle the way the workers move them once a platform answered, which
writes the licence ledger. Used by the page tests and by the browser test's scratch database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from metering.billing.models import BillingAccount
from metering.billing.runs import run_close
from metering.periods import BillingPeriod
from metering.usage.services import ingest_usage_events
from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Client, EndUser
from portal.accounts.services import create_client, get_client_by_ref
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db, utcnow
from portal.errors import NotFound
from portal.orders.models import DesiredState, Seat, SeatState
from portal.transactions import task_transaction
from provisioning import place_order
from provisioning.lifecycle import move

SETUP = Actor.system("tests")
# Tests run with BILLING_TIMEZONE=UTC (the default), as does the browser test's portal.
UTC_ZONE = ZoneInfo("UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_client(ref: str, name: str) -> Client:
    """The client with this reference, created if it does not exist yet."""
    try:
        return get_client_by_ref(ref)
    except NotFound:
        return create_client(SETUP, ref, name)


def add_people(client: Client, *names: str) -> list[EndUser]:
    domain = f"{client.ref}.example"
    return [add_end_user(SETUP, client, name, f"{name.split()[0].lower()}@{domain}") for name in names]


def give(
    client: Client, person: EndUser, product: str, start: datetime, stop: datetime | None = None
) -> Seat:
    """A seat of ``product`` for ``person``, active from ``start`` (and cancelled at ``stop``)."""
    seat = place_order(SETUP, client, get_product(product), 1, [person]).seats[0]
    # What the workers record once the platform created the account: the ledger opens at ``start``.
    seat.account_end_user_id = person.id
    move(seat, SeatState.PROVISIONING, start)
    move(seat, SeatState.ACTIVE, start)
    if stop is not None:
        seat.desired_state = DesiredState.TERMINATED
        move(seat, SeatState.TERMINATING, stop)
        move(seat, SeatState.TERMINATED, stop)
    db.session.flush()
    return seat


def card_on_file(client: Client) -> None:
    db.session.add(
        BillingAccount(
            client_id=client.id,
            stripe_customer_id=f"cus_{client.ref}",
            payment_method_id=f"pm_{client.ref}",
            card_brand="visa",
            card_last4="4242",
        )
    )
    db.session.flush()


def usage_start(client: Client, user: str, product: str, start: datetime, event_id: str) -> None:
    """An outside system (an RMM) reports that ``user`` started using ``product``."""
    ingest_usage_events(
        SETUP,
        [
            {
                "id": event_id,
                "client": client.ref,
                "user": user,
                "product": product,
                "action": "start",
                "at": start.isoformat(),
            }
        ],
    )


@dataclass
class Business:
    """Three clients over August to October 2026 (see :func:`build_business`)."""

    acme: Client
    bright: Client
    ledger: Client
    people: dict[str, EndUser] = field(default_factory=dict)


def build_business(month: BillingPeriod) -> Business:
    """Acme: Alice (desktop since two months back), Bob (desktop, last month only), Carol (desktop from
    the 5th of ``month``), Dave (mailbox since last month), and ghost@acme.example whose desktop use an
    RMM reported with no seat; a card on file. Bright Smile: four desktops from the 2nd of ``month``
    (none before), no card. Ledgerline: two mailboxes since two months back, a card.
    """
    tz = UTC_ZONE
    start, _stop = month.bounds(tz)
    last_start, _ = month.previous().bounds(tz)
    earlier_start, _ = month.previous().previous().bounds(tz)
    acme = add_client("acme", "Acme Law LLP")
    bright = add_client("bright", "Bright Smile Dental")
    ledger = add_client("ledger", "Ledgerline Accountants")
    alice, bob, carol, dave = add_people(acme, "Alice Archer", "Bob Baker", "Carol Cruz", "Dave Dunn")
    give(acme, alice, "desktop", earlier_start + timedelta(hours=9))
    give(acme, bob, "desktop", last_start + timedelta(hours=9), last_start + timedelta(days=19, hours=17))
    give(acme, carol, "desktop", start + timedelta(days=4, hours=9))
    give(acme, dave, "exchange", last_start + timedelta(hours=9))
    usage_start(
        acme, "ghost@acme.example", "desktop", start + timedelta(days=9, hours=8), f"rmm-{month}-ghost"
    )
    card_on_file(acme)
    for person in add_people(bright, "Beth Bright", "Brian Bright", "Bella Bright", "Boris Bright"):
        give(bright, person, "desktop", start + timedelta(days=1, hours=8))
    for person in add_people(ledger, "Lena Ledger", "Luke Ledger"):
        give(ledger, person, "exchange", earlier_start + timedelta(hours=8))
    card_on_file(ledger)
    db.session.commit()
    return Business(
        acme=acme,
        bright=bright,
        ledger=ledger,
        people={p.name.split()[0].lower(): p for p in (alice, bob, carol, dave)},
    )


def close(period: BillingPeriod, now: datetime | None = None) -> None:
    summary = run_close(SETUP, period, UTC_ZONE, now or utcnow(), transaction=task_transaction)
    assert summary.complete, summary.failures
