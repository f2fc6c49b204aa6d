"""Demo data for trying Seatmeter out: a reseller, three clients, their people and a year of history.

Every seat, month close, approval, payment and SPLA filing goes through the same services the portal,
the workers and the Stripe webhooks use, with the date it would have happened on:

* seats added and removed over the past twelve months (people who joined, people who left); the
  seats still in service are made again on the platforms by the workers, since a new installation's
  platforms (``make run``'s sandbox) start empty;
* every past month closed; all but the last approved (finalized) and paid, except Bright Smile's
  latest finalized invoice, whose card was declined (overdue); last month's bills wait for review;
* every past month's SPLA report marked submitted, so nothing on the home page is falsely overdue;
* two desktops of people who left were at the colo (:data:`COLO`): the SPLA reports list their SALs
  and only theirs; the WorkSpaces desktops and WorkMail mailboxes are AWS costs;
* one seat that fails with a plain reason (see :data:`HAND_MADE_DESKTOP`), and a mailbox left on the
  platform after its person left (:data:`LEFTOVER_MAILBOX`) for the true-up to find.

Loading it again changes nothing: clients, people and logins are looked up by their natural keys
first, and seats and months are only added to a client without orders and a database without bills.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from metering import (
    BillingPeriod,
    Invoice,
    InvoiceStatus,
    approve_period,
    billing_timezone,
    close_in_one_transaction,
    first_unbilled_month,
    mark_paid,
    mark_payment_failed,
    mark_spla_submitted,
    spla_report,
)
from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Client, EndUser, Role, User
from portal.accounts.services import create_client, create_user_with_password, ensure_reseller
from portal.audit.services import Actor
from portal.catalog.services import get_product, seed_catalog
from portal.db import db, utcnow
from portal.orders.models import Order
from provisioning import place_order, record_past_seat

DEMO_PASSWORD = "seatmeter-demo"  # nosec B105  # the demo's published password, printed by `seatmeter demo`
RESELLER_ADMIN_EMAIL = "admin@northwind-it.example"
HISTORY_MONTHS = 12
# The sandbox has a WorkSpace for this directory user that somebody made by hand in the AWS console;
# the demo's desktop for the same person fails with that reason (WorkSpaces allows one per user).
HAND_MADE_DESKTOP = "gina"
# Jon left Ledgerline and his seat was cancelled, but his WorkMail mailbox is still there (the sandbox
# keeps it): the true-up's finding of an account nobody bills.
LEFTOVER_MAILBOX = ("Jon Abbott", "jon@ledgerline.example")
DECLINED = "Your card was declined."
# The colo's RDS session hosts (the Active Directory adapter): desktops there report SPLA SALs.
COLO = "active_directory"


@dataclass(frozen=True)
class PastSeat:
    """A seat of ``product`` for the person with this e-mail, from ``start`` months ago (day ``day``)
    to ``stop`` months ago (None: still in service)."""

    email: str
    product: str
    start: int
    stop: int | None = None
    day: int = 3
    # Where it was held when not on today's adapter for its kind: "active_directory" is the colo's
    # RDS session hosts, whose desktops need SPLA SALs (the WorkSpaces ones are licensed by AWS).
    platform: str | None = None


@dataclass(frozen=True)
class DemoClient:
    ref: str
    name: str
    admin: tuple[str, str]
    people: tuple[tuple[str, str, str | None], ...]
    seats: tuple[PastSeat, ...]
    orders: tuple[tuple[str, int, int], ...] = ()  # ordered today: (product, quantity, assigned)


DEMO_CLIENTS = (
    DemoClient(
        "acme",
        "Acme Law LLP",
        ("Grace Hopper", "grace@acme.example"),
        (
            ("Alice Ward", "alice@acme.example", "201"),
            ("Bob Stone", "bob@acme.example", "202"),
            ("Carol Diaz", "carol@acme.example", "203"),
            ("Dan Reyes", "dan@acme.example", "204"),
            ("Eve Tran", "eve@acme.example", None),
        ),
        (
            # Dan's desktop was at the colo, before Acme's desktops moved to WorkSpaces.
            PastSeat("dan@acme.example", "desktop", 12, 5, day=2, platform=COLO),
            PastSeat("dan@acme.example", "exchange", 12, 5, day=2),
            PastSeat("eve@acme.example", "exchange", 9, 7, day=14),
            PastSeat("alice@acme.example", "desktop", 12, day=2),
            PastSeat("alice@acme.example", "exchange", 12, day=2),
            PastSeat("alice@acme.example", "voip", 10, day=20),
            PastSeat("bob@acme.example", "desktop", 11, day=8),
            PastSeat("bob@acme.example", "exchange", 11, day=8),
            PastSeat("bob@acme.example", "voip", 6, day=1),
            PastSeat("carol@acme.example", "exchange", 4, day=11),
            PastSeat("carol@acme.example", "desktop", 2, day=16),
        ),
    ),
    DemoClient(
        "brightsmile",
        "Bright Smile Dental Clinic",
        ("Dana Lee", "dana@brightsmile.example"),
        (
            ("Erin Park", "erin@brightsmile.example", "10"),
            ("Frank Moss", "frank@brightsmile.example", "11"),
            ("Hal Price", "hal@brightsmile.example", "12"),
            ("Gina Holt", f"{HAND_MADE_DESKTOP}@brightsmile.example", "13"),
        ),
        (
            PastSeat("hal@brightsmile.example", "desktop-pro", 8, 2, day=5, platform=COLO),
            PastSeat("erin@brightsmile.example", "desktop-pro", 8, day=5),
            PastSeat("erin@brightsmile.example", "exchange-plus", 8, day=5),
            PastSeat("frank@brightsmile.example", "desktop-pro", 3, day=9),
            PastSeat("frank@brightsmile.example", "exchange-plus", 3, day=9),
        ),
        # Gina joined this week; her desktop fails (HAND_MADE_DESKTOP).
        (("desktop-pro", 1, 1),),
    ),
    DemoClient(
        "ledgerline",
        "Ledgerline Accountants",
        ("Henry Ford", "henry@ledgerline.example"),
        (("Iris Chen", "iris@ledgerline.example", None), ("Jon Abbott", "jon@ledgerline.example", None)),
        (
            PastSeat("jon@ledgerline.example", "exchange", 12, 6, day=1),
            PastSeat("iris@ledgerline.example", "exchange", 12, day=1),
        ),
    ),
)


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


def demo_logins() -> list[DemoLogin]:
    """Who can log in to the demo (whether or not it is loaded yet)."""
    logins = [DemoLogin("reseller admin", RESELLER_ADMIN_EMAIL, DEMO_PASSWORD)]
    logins += [DemoLogin(f"{spec.name} admin", spec.admin[1], DEMO_PASSWORD) for spec in DEMO_CLIENTS]
    return logins


def demo_seat_count() -> int:
    """How many seats of the demo are wanted in service now (the failing one included)."""
    past = sum(1 for spec in DEMO_CLIENTS for seat in spec.seats if seat.stop is None)
    return past + sum(quantity for spec in DEMO_CLIENTS for _product, quantity, _ in spec.orders)


def load_demo(now: datetime | None = None) -> list[DemoLogin]:
    now = now or utcnow()
    actor = Actor.system("demo data")
    ensure_reseller("Northwind Managed IT")
    seed_catalog(actor, placements_from=first_unbilled_month())
    if _user(RESELLER_ADMIN_EMAIL) is None:
        create_user_with_password(
            actor, RESELLER_ADMIN_EMAIL, "Nora Northwind", Role.RESELLER_ADMIN, None, DEMO_PASSWORD
        )
    history_wanted = db.session.scalars(select(Invoice.id)).first() is None
    for spec in DEMO_CLIENTS:
        client = db.session.scalars(select(Client).where(Client.ref == spec.ref)).first()
        if client is None:
            client = create_client(actor, spec.ref, spec.name)
        admin_name, admin_email = spec.admin
        if _user(admin_email) is None:
            create_user_with_password(
                actor, admin_email, admin_name, Role.CLIENT_ADMIN, client, DEMO_PASSWORD
            )
        people = {
            email: _person(actor, client, name, email, extension) for name, email, extension in spec.people
        }
        has_orders = db.session.scalars(select(Order.id).where(Order.client_id == client.id)).first()
        if has_orders is None:
            _add_seats(actor, client, spec, people, now)
    if history_wanted:
        _close_past_months(actor, now)
    return demo_logins()


def _person(actor: Actor, client: Client, name: str, email: str, extension: str | None) -> EndUser:
    person = db.session.scalars(
        select(EndUser).where(EndUser.client_id == client.id, EndUser.email == email)
    ).first()
    return person or add_end_user(actor, client, name, email, extension)


def _months_ago(now: datetime, months: int) -> BillingPeriod:
    period = BillingPeriod.containing(now, billing_timezone())
    for _ in range(months):
        period = period.previous()
    return period


def _day_of(period: BillingPeriod, day: int, hour: int = 9) -> datetime:
    start, _stop = period.bounds(billing_timezone())
    return start + timedelta(days=day - 1, hours=hour)


def _add_seats(
    actor: Actor, client: Client, spec: DemoClient, people: dict[str, EndUser], now: datetime
) -> None:
    # Oldest first, so that the ledger, the orders and the audit log read in the order things happened.
    for past in sorted(spec.seats, key=lambda seat: (-seat.start, seat.day)):
        start = _day_of(_months_ago(now, past.start), past.day)
        stop = None if past.stop is None else _day_of(_months_ago(now, past.stop), past.day + 10, hour=17)
        product = get_product(past.product)
        record_past_seat(
            actor,
            client,
            product,
            people[past.email],
            start=start,
            stop=stop,
            now=now,
            platform=past.platform,
        )
    newcomers = [person for email, person in people.items() if not any(s.email == email for s in spec.seats)]
    for product_code, quantity, assigned in spec.orders:
        place_order(actor, client, get_product(product_code), quantity, newcomers[:assigned])


def _close_past_months(actor: Actor, now: datetime) -> None:
    """Close every past month on its 1st, approve it on the 2nd and collect on the 3rd, as the
    reseller and Stripe would have; last month's bills stay in review. SPLA reports go in on the 5th."""
    tz = billing_timezone()
    last = _months_ago(now, 1)
    for months in range(HISTORY_MONTHS, 0, -1):
        period = _months_ago(now, months)
        following = period.next()
        close_in_one_transaction(actor, period, tz, min(_day_of(following, 1, hour=6), now))
        mark_spla_submitted(
            actor,
            spla_report(period, tz),
            f"SPLA-{period}",
            tz,
            min(_day_of(following, 5, hour=10), now),
        )
        if period == last:
            continue
        approve_period(actor, period, tz, min(_day_of(following, 2), now))
        for invoice in db.session.scalars(
            select(Invoice).where(Invoice.period == str(period), Invoice.status == InvoiceStatus.FINALIZED)
        ):
            if invoice.client.ref == "brightsmile" and period == last.previous():
                # Declined two days ago: recent enough that dunning has not suspended the clinic.
                mark_payment_failed(actor, invoice, DECLINED, now - timedelta(days=2))
            else:
                mark_paid(actor, invoice, min(_day_of(following, 3), now))


def _user(email: str) -> User | None:
    return db.session.scalars(select(User).where(User.email == email)).first()
