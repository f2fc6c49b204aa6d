"""Gathering a month's bills for review: each invoice with its lines, who changed since last month (by
name), what looks unusual, and, for one bill, who held each line's product on which days.

A fixed number of queries for the whole month, however many clients, people and lines: the ledger is
read as distinct (client, product, person, source) rows for this month and the last, and the helpers
in :mod:`metering.billing.review_changes` do the rest in memory.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, or_, select

from metering.billing import lifecycle
from metering.billing.lifecycle import InvoiceState
from metering.billing.models import BillingAccount, BillingPeriodState, Invoice, InvoiceLine
from metering.billing.queries import list_invoices
from metering.billing.review_changes import Holding, holdings, unusual, user_changes
from metering.counting import LicenceInterval
from metering.ledger.models import IntervalSource, LedgerInterval
from metering.ledger.months import month_bits, overlapping_any
from metering.periods import BillingPeriod
from portal.accounts.models import Client, EndUser
from portal.catalog.models import Product
from portal.db import db

# client id -> product code -> person key -> the ledger sources that gave it to them that month, as
# bits of SOURCE_BITS (a few bits per person are much cheaper than tens of thousands of sets)
PeopleByProduct = dict[int, dict[str, dict[str, int]]]
SOURCE_BITS = {
    IntervalSource.SEAT.value: 1,
    IntervalSource.USAGE.value: 2,
    IntervalSource.TRUEUP.value: 4,
    # An RMM's snapshots are usage reported by an outside system, like start/stop events.
    IntervalSource.SNAPSHOT.value: 2,
}
_SOURCE_WIDTH = 3


@dataclass(frozen=True)
class Person:
    key: str  # the e-mail / UPN the ledger counts
    name: str | None  # the end user's name, when the client has an end user with that e-mail

    @property
    def display(self) -> str:
        return f"{self.name} <{self.key}>" if self.name else self.key


@dataclass(frozen=True)
class ProductChange:
    code: str
    name: str
    now: int
    before: int
    added: tuple[Person, ...]
    removed: tuple[Person, ...]


@dataclass
class Bill:
    invoice: Invoice
    has_payment_method: bool
    changes: list[ProductChange] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def client(self) -> Client:
        return self.invoice.client

    @property
    def is_draft(self) -> bool:
        return lifecycle.state_of(self.invoice) in (InvoiceState.DRAFT, InvoiceState.HELD)

    @property
    def held(self) -> bool:
        return lifecycle.is_held(self.invoice)


@dataclass
class MonthReview:
    period: BillingPeriod
    closed_at: datetime | None
    finalized_at: datetime | None
    bills: list[Bill]

    @property
    def drafts(self) -> list[Bill]:
        return [bill for bill in self.bills if bill.is_draft]

    @property
    def approvable(self) -> int:
        return sum(1 for bill in self.drafts if not bill.held)

    @property
    def held(self) -> int:
        return sum(1 for bill in self.bills if bill.held)

    @property
    def flagged(self) -> int:
        return sum(1 for bill in self.bills if bill.flags)

    def draft_totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for bill in self.drafts:
            totals[bill.invoice.currency] = totals.get(bill.invoice.currency, 0) + bill.invoice.total_minor
        return totals


def people_by_month(
    months: list[BillingPeriod], tz: ZoneInfo, client_ids: list[int] | None = None
) -> list[PeopleByProduct]:
    """For each month: who held which product, per client, and through which ledger sources. One query."""
    codes = dict(db.session.execute(select(Product.id, Product.code)).all())
    query = select(
        LedgerInterval.client_id,
        LedgerInterval.product_id,
        LedgerInterval.user_key,
        # As text: converting tens of thousands of enum values costs more than the whole query.
        cast(LedgerInterval.source, String(16)),
        month_bits(months, tz),
    ).where(
        overlapping_any(months, tz),
        # People only: a seat in service with nobody is no person (it bills as a seat, not a user).
        LedgerInterval.user_key.is_not(None),
    )
    if client_ids is not None:
        query = query.where(LedgerInterval.client_id.in_(client_ids))
    # One pass over the rows: each person's sources per month, packed side by side in one integer.
    packed: dict[tuple[int, int, str], int] = {}
    get = packed.get
    for client_id, product_id, key, source, mask in db.session.execute(query):
        bit = SOURCE_BITS[source]
        spread, index = 0, 0
        while mask:
            if mask & 1:
                spread |= bit << (_SOURCE_WIDTH * index)
            mask >>= 1
            index += 1
        person = (client_id, product_id, key)
        packed[person] = get(person, 0) | spread
    people: list[PeopleByProduct] = [{} for _month in months]
    every_source = (1 << _SOURCE_WIDTH) - 1
    for (client_id, product_id, key), spread in packed.items():
        code = codes[product_id]
        for index, by_client in enumerate(people):
            bits = spread >> (_SOURCE_WIDTH * index) & every_source
            if bits:
                by_client.setdefault(client_id, {}).setdefault(code, {})[key] = bits
    return people


def end_user_names(
    client_ids: list[int] | None = None, period: BillingPeriod | None = None
) -> dict[tuple[int, str], str]:
    """(client id, lower-cased e-mail) -> name, for the clients invoiced in ``period`` or those given."""
    query = select(EndUser.client_id, EndUser.email, EndUser.name)
    if client_ids is not None:
        query = query.where(EndUser.client_id.in_(client_ids))
    elif period is not None:
        query = query.where(
            EndUser.client_id.in_(select(Invoice.client_id).where(Invoice.period == str(period)))
        )
    return {(client_id, email.strip().lower()): name for client_id, email, name in db.session.execute(query)}


def _product_names() -> dict[str, str]:
    return dict(db.session.execute(select(Product.code, Product.name)).all())


def _with_payment_method(client_ids: list[int] | None) -> set[int]:
    query = select(BillingAccount.client_id).where(BillingAccount.payment_method_id.is_not(None))
    if client_ids is not None:
        query = query.where(BillingAccount.client_id.in_(client_ids))
    return set(db.session.scalars(query))


def _changes_and_flags(
    bill: Bill,
    now: dict[str, dict[str, int]],
    before: dict[str, dict[str, int]],
    names: dict[tuple[int, str], str],
    product_names: dict[str, str],
) -> None:
    client_id = bill.invoice.client_id

    def person(key: str) -> Person:
        return Person(key, names.get((client_id, key)))

    for code in sorted(set(now) | set(before), key=lambda c: product_names.get(c, c)):
        change = user_changes(now.get(code, {}), before.get(code, {}))
        bill.changes.append(
            ProductChange(
                code=code,
                name=product_names.get(code, code),
                now=len(now.get(code, {})),
                before=len(before.get(code, {})),
                added=tuple(person(key) for key in change.added),
                removed=tuple(person(key) for key in change.removed),
            )
        )
    # Reported by an outside system (RMM, PSA, import) for someone with no seat of that product.
    without_seat = sorted(
        {
            person(key).display
            for by_person in now.values()
            for key, sources in by_person.items()
            if sources & SOURCE_BITS["usage"] and not sources & SOURCE_BITS["seat"]
        }
    )
    bill.flags = unusual(
        quantities={code: len(people) for code, people in now.items()},
        previous_quantities={code: len(people) for code, people in before.items()},
        users_without_seat=without_seat,
        has_payment_method=bill.has_payment_method,
        product_names=product_names,
    )


def month_review(period: BillingPeriod, tz: ZoneInfo, client: Client | None = None) -> MonthReview:
    """Every invoice of the month (or one client's) with its changes and flags. About ten queries."""
    invoices = list_invoices(period=period, client=client, include_drafts=True)
    invoices.sort(key=lambda invoice: (invoice.client.name.lower(), invoice.id))
    client_ids = [client.id] if client is not None else None
    before_people, now_people = people_by_month([period.previous(), period], tz, client_ids)
    names = end_user_names(client_ids, period)
    product_names = _product_names()
    paying = _with_payment_method(client_ids)
    bills = []
    for invoice in invoices:
        bill = Bill(invoice=invoice, has_payment_method=invoice.client_id in paying)
        _changes_and_flags(
            bill,
            now_people.get(invoice.client_id, {}),
            before_people.get(invoice.client_id, {}),
            names,
            product_names,
        )
        bills.append(bill)
    state = db.session.get(BillingPeriodState, str(period))
    return MonthReview(
        period=period,
        closed_at=state.closed_at if state else None,
        finalized_at=state.finalized_at if state else None,
        bills=bills,
    )


# --- one bill in detail: who held each line's product, and on which days ----------------------------


@dataclass(frozen=True)
class HolderRow:
    person: Person
    holding: Holding
    sources: frozenset[IntervalSource]

    @property
    def without_seat(self) -> bool:
        return IntervalSource.SEAT not in self.sources


@dataclass(frozen=True)
class LineDetail:
    line: InvoiceLine
    holders: list[HolderRow]  # empty for metered lines (minutes): nobody "holds" those


def line_details(invoice: Invoice, tz: ZoneInfo) -> list[LineDetail]:
    """Each line of the invoice with the people who held its product in the month it bills.

    One ledger query per month the lines bill (one, plus one per earlier month corrected by an
    adjustment line), and one for the client's end users' names.
    """
    client = invoice.client
    names = end_user_names([client.id])
    by_period: dict[str, tuple[list[LicenceInterval], dict[tuple[str, str | None], set[IntervalSource]]]] = {}
    for month in sorted({line.period for line in invoice.lines}):
        start, stop = BillingPeriod.parse(month).bounds(tz)
        rows = db.session.execute(
            select(
                LedgerInterval.user_key,
                Product.code,
                LedgerInterval.source,
                LedgerInterval.start_at,
                LedgerInterval.stop_at,
            )
            .join(Product, Product.id == LedgerInterval.product_id)
            .where(
                LedgerInterval.client_id == client.id,
                # The people who held it; seats in service with nobody are no holders.
                LedgerInterval.user_key.is_not(None),
                LedgerInterval.start_at < stop,
                or_(LedgerInterval.stop_at.is_(None), LedgerInterval.stop_at > start),
            )
        ).all()
        intervals = [
            LicenceInterval(client=client.ref, end_user=key, product=code, start=begin, stop=end)
            for key, code, _source, begin, end in rows
        ]
        sources: dict[tuple[str, str | None], set[IntervalSource]] = defaultdict(set)
        for key, code, source, _begin, _end in rows:
            sources[(code, key)].add(source)
        by_period[month] = (intervals, sources)

    details = []
    for line in invoice.lines:
        intervals, sources = by_period[line.period]
        start, stop = BillingPeriod.parse(line.period).bounds(tz)
        code = line.product.code
        holders = [
            HolderRow(
                person=Person(held.user, names.get((client.id, held.user))),
                holding=held,
                sources=frozenset(sources[(code, held.user)]),
            )
            for held in holdings(intervals, client.ref, code, start, stop, tz)
        ]
        details.append(LineDetail(line=line, holders=holders))
    return details
