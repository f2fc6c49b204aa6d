"""The reseller's months in figures: revenue against licence cost, and the seats billed.

Every figure is one aggregate query whatever the number of clients, seats or invoices, so the
reseller's home page costs the same with five clients or five hundred.

- Revenue of a month is the sum of every invoice line billing that month (``InvoiceLine.period``,
  so a late adjustment counts towards the month it corrects), drafts under review included.
- Licence cost of a month is what the SPLA report for it counts (distinct people per client and SKU,
  plus the two-core packs of per-core hosts) times each SKU's SPLA cost in the price book today.
- Seats of a month are the people billed per product: distinct (client, person, product).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from metering.billing.catalog import cost_history, in_force_in
from metering.billing.models import InvoiceLine
from metering.counting import core_license_packs
from metering.ledger.models import LedgerInterval
from metering.ledger.months import month_bits, overlapping_any
from metering.periods import BillingPeriod
from metering.spla.models import LicensedHost
from portal.catalog.models import LicenceSku, product_licences
from portal.db import db


@dataclass(frozen=True)
class MonthFigures:
    period: BillingPeriod
    revenue_minor: int
    cost_minor: int
    seats: int

    @property
    def margin_minor(self) -> int:
        return self.revenue_minor - self.cost_minor

    @property
    def margin_percent(self) -> int | None:
        if self.revenue_minor <= 0:
            return None
        return round(100 * self.margin_minor / self.revenue_minor)


def last_months(last: BillingPeriod, count: int) -> list[BillingPeriod]:
    months = [last]
    while len(months) < count:
        months.append(months[-1].previous())
    return months[::-1]


def held_months(months: list[BillingPeriod], tz: ZoneInfo) -> dict[tuple[int, int, str], int]:
    """(client id, product id, person) -> the months they held the product, as bits (bit i: months[i]).

    One query; a person's intervals are OR-ed together here.
    """
    rows = db.session.execute(
        select(
            LedgerInterval.client_id,
            LedgerInterval.product_id,
            LedgerInterval.user_key,
            month_bits(months, tz),
        ).where(overlapping_any(months, tz), LedgerInterval.user_key.is_not(None))  # people only
    )
    held: dict[tuple[int, int, str], int] = defaultdict(int)
    for client_id, product_id, user_key, mask in rows:
        held[(client_id, product_id, user_key)] |= mask
    return held


def _per_month(masks: Iterable[int], months: int) -> list[int]:
    """How many of the masks have each month's bit set. Most people share a few masks: count those."""
    counts = [0] * months
    for mask, people in Counter(masks).items():
        for index in range(months):
            if mask >> index & 1:
                counts[index] += people
    return counts


def monthly_figures(months: list[BillingPeriod], tz: ZoneInfo, currency: str) -> list[MonthFigures]:
    """Revenue, licence cost and seats of each month, in ``currency``. Six queries in all."""
    periods = [str(month) for month in months]
    revenue = dict(
        db.session.execute(
            select(InvoiceLine.period, func.sum(InvoiceLine.amount_minor))
            .where(InvoiceLine.period.in_(periods), InvoiceLine.currency == currency)
            .group_by(InvoiceLine.period)
        ).all()
    )

    held = held_months(months, tz)
    seats = _per_month(held.values(), len(months))

    # As the SPLA report counts: a person holding a SKU through two products counts once.
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
    # Each month at the costs in force for it, so a cost change never moves past margins.
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
