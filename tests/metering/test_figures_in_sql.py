"""The months in figures, counted by the database, equal what reading every interval into Python
counted (the computation the reseller home used before, kept here as the oracle)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, or_, select

from metering.billing.catalog import cost_history, in_force_in
from metering.billing.models import InvoiceLine
from metering.counting import core_license_packs
from metering.figures import MonthFigures, last_months, monthly_figures
from metering.ledger.models import IntervalSource, LedgerInterval
from metering.ledger.months import month_bits, overlapping_any
from metering.periods import BillingPeriod
from metering.spla.models import LicensedHost
from portal.accounts.models import Client
from portal.catalog.models import LicenceSku, Product, product_licences
from portal.db import db
from tests.portal.reseller.conftest import OCTOBER


def _held_months(months: list[BillingPeriod], tz: ZoneInfo) -> dict[tuple[int, int, str], int]:
    rows = db.session.execute(
        select(
            LedgerInterval.client_id,
            LedgerInterval.product_id,
            LedgerInterval.user_key,
            month_bits(months, tz),
        ).where(overlapping_any(months, tz), LedgerInterval.user_key.is_not(None))
    )
    held: dict[tuple[int, int, str], int] = defaultdict(int)
    for client_id, product_id, user_key, mask in rows:
        held[(client_id, product_id, user_key)] |= mask
    return held


def _per_month(masks: Iterable[int], months: int) -> list[int]:
    counts = [0] * months
    for mask, people in Counter(masks).items():
        for index in range(months):
            if mask >> index & 1:
                counts[index] += people
    return counts


def oracle_figures(months: list[BillingPeriod], tz: ZoneInfo, currency: str) -> list[MonthFigures]:
    """The former ``monthly_figures``: every interval of the months read into Python."""
    periods = [str(month) for month in months]
    revenue = dict(
        db.session.execute(
            select(InvoiceLine.period, func.sum(InvoiceLine.amount_minor))
            .where(InvoiceLine.period.in_(periods), InvoiceLine.currency == currency)
            .group_by(InvoiceLine.period)
        ).all()
    )
    held = _held_months(months, tz)
    seats = _per_month(held.values(), len(months))
    bill: dict[int, list[int]] = defaultdict(list)
    for product_id, sku_id in db.session.execute(
        select(product_licences.c.product_id, product_licences.c.sku_id)
    ):
        bill[product_id].append(sku_id)
    licensed: dict[tuple[int, int, str], int] = defaultdict(int)
    for (client_id, product_id, user_key), mask in held.items():
        for sku_id in bill.get(product_id, ()):
            licensed[(client_id, sku_id, user_key)] |= mask
    by_sku: dict[int, list[int]] = defaultdict(list)
    for (_client_id, sku_id, _user_key), mask in licensed.items():
        by_sku[sku_id].append(mask)
    skus = {sku.id: sku for sku in db.session.scalars(select(LicenceSku))}
    history = cost_history(list(skus.values()))
    costs = {str(month): in_force_in(history, month) for month in months}
    cost: dict[str, int] = {}
    for sku_id, masks in by_sku.items():
        sku = skus[sku_id]
        if sku.currency != currency:
            continue
        for month, count in zip(periods, _per_month(masks, len(months)), strict=True):
            cost[month] = cost.get(month, 0) + count * costs[month][sku.code].amount_minor
    first_start, last_stop = months[0].bounds(tz)[0], months[-1].bounds(tz)[1]
    hosts = db.session.execute(
        select(LicensedHost, LicenceSku)
        .join(LicenceSku, LicenceSku.id == LicensedHost.sku_id)
        .where(
            LicensedHost.in_service_from < last_stop,
            or_(LicensedHost.retired_at.is_(None), LicensedHost.retired_at > first_start),
        )
    ).all()
    for billing_month in months:
        start, stop = billing_month.bounds(tz)
        for host, sku in hosts:
            in_service = host.in_service_from < stop and (host.retired_at is None or host.retired_at > start)
            if in_service and sku.currency == currency:
                packs = core_license_packs(host.physical_cores, host.processors)
                key = str(billing_month)
                cost[key] = cost.get(key, 0) + packs * costs[key][sku.code].amount_minor
    return [
        MonthFigures(
            period=month,
            revenue_minor=int(revenue.get(str(month)) or 0),
            cost_minor=cost.get(str(month), 0),
            seats=seats[index],
        )
        for index, month in enumerate(months)
    ]


def random_intervals(rng: random.Random, count: int) -> None:
    """Intervals of a few people over a year and a half: overlapping, split, open, several products
    (some sharing a SKU), some a person's through two sources, and seats in service with nobody."""
    clients = list(db.session.scalars(select(Client.id)))
    products = list(db.session.scalars(select(Product.id)))
    people = [f"p{n}@example.com" for n in range(12)]
    first, _ = BillingPeriod(2025, 6).bounds(ZoneInfo("UTC"))
    for _ in range(count):
        start = first + timedelta(hours=rng.randrange(0, 24 * 520))
        stop = None if rng.random() < 0.25 else start + timedelta(hours=rng.randrange(1, 24 * 120))
        nobody = rng.random() < 0.1
        db.session.add(
            LedgerInterval(
                client_id=rng.choice(clients),
                product_id=rng.choice(products),
                user_key=None if nobody else rng.choice(people),
                source=IntervalSource.SEAT if nobody else rng.choice(list(IntervalSource)),
                start_at=start,
                stop_at=stop,
            )
        )
    db.session.flush()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland"])
def test_figures_counted_in_sql_equal_the_figures_counted_in_python(app, business, seed, zone):
    random_intervals(random.Random(seed), 400)
    tz = ZoneInfo(zone)

    for months in (last_months(OCTOBER, 12), last_months(OCTOBER, 1), last_months(BillingPeriod(2027, 3), 6)):
        for currency in ("USD", "EUR"):
            assert monthly_figures(months, tz, currency) == oracle_figures(months, tz, currency)

    assert any(figure.seats for figure in monthly_figures(last_months(OCTOBER, 12), tz, "USD"))


def test_the_figures_cost_the_same_statements_with_ten_times_the_intervals(app, business, count_queries):
    months = last_months(OCTOBER, 12)
    rng = random.Random(7)
    sizes = []
    for count in (40, 400):
        random_intervals(rng, count)
        with count_queries() as statements:
            monthly_figures(months, ZoneInfo("UTC"), "USD")
        sizes.append(len(statements))

    assert sizes[0] == sizes[1]
