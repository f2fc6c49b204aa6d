"""The reseller's months in figures: revenue against licence cost, and the seats billed.

Every figure is one aggregate query whatever the number of clients, seats or invoices, so the
reseller's home page costs the same with five clients or five hundred.

- Revenue of a month is the sum of every invoice line billing that month (``InvoiceLine.period``,
  so a late adjustment counts towards the month it corrects), drafts under review included, without
  tax: an exclusive tax is never in a line's amount, an inclusive one is taken out (it is owed to
  the tax office, not earned).
- Licence cost of a month is what the month's licences of every programme count (the SPLA report and
  the AWS cost report: distinct people per client and SKU through the bill of the placement each
  interval was held on, plus the two-core packs of per-core hosts) times each SKU's cost in force.
- Seats of a month are the people billed per product: distinct (client, person, product).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CTE,
    ColumnElement,
    Integer,
    String,
    Subquery,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    null,
    or_,
    select,
    values,
)

from metering.billing.catalog import cost_history, in_force_in
from metering.billing.models import InvoiceLine
from metering.counting import host_core_packs
from metering.ledger.models import LedgerInterval
from metering.ledger.months import month_flags, overlapping_any
from metering.periods import BillingPeriod
from metering.spla.models import HostVm, LicensedHost
from portal.catalog.models import LicenceSku, Placement, Product, placement_licences, product_licences
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


def _platform_key() -> ColumnElement[str]:
    # The placement an interval was held on; "" when neither it nor its product names one.
    return func.coalesce(LedgerInterval.platform, Product.platform, literal(""))


def _held_per_month(months: list[BillingPeriod], tz: ZoneInfo) -> CTE:
    """One row per (client, product, platform, person) held in any of the months; column ``m<i>`` is
    1 when they held it in ``months[i]``. People only: a seat in service with nobody holds no licence."""
    platform = _platform_key()
    return (
        select(
            LedgerInterval.client_id,
            LedgerInterval.product_id,
            platform.label("platform"),
            LedgerInterval.user_key,
            *(func.max(flag).label(f"m{index}") for index, flag in enumerate(month_flags(months, tz))),
        )
        .join(Product, Product.id == LedgerInterval.product_id)
        .where(overlapping_any(months, tz), LedgerInterval.user_key.is_not(None))
        .group_by(LedgerInterval.client_id, LedgerInterval.product_id, platform, LedgerInterval.user_key)
        .cte("held")
    )


# The tax inside a line's amount: all of it under an inclusive rate, none under an exclusive one.
_included_tax = case((InvoiceLine.tax_inclusive, InvoiceLine.tax_minor), else_=0)


def _bill_rows(months: list[BillingPeriod], tz: ZoneInfo) -> list[tuple[int, int, str, int]]:
    """(month index, product id, platform, SKU id) for every SKU a person held on that product and
    platform needs in that month: the placement's bill in force, or else the product's own bill.

    Two queries whatever the size of the ledger: the platforms held, and the bills.
    """
    platforms = set(
        db.session.scalars(
            select(_platform_key())
            .join(Product, Product.id == LedgerInterval.product_id)
            .where(overlapping_any(months, tz))
            .distinct()
        )
    )
    own: dict[int, list[int]] = {}
    # Per (product id, platform): {first month: SKU ids}, a placement with no SKU an empty list.
    placed: dict[tuple[int, str], dict[str, list[int]]] = {}
    # One statement: the products' own bills (no platform) and every placement's bill over time.
    for product_id, platform, effective_from, sku_id in db.session.execute(
        select(
            Product.id,
            cast(null(), String).label("platform"),
            cast(null(), String).label("effective_from"),
            product_licences.c.sku_id,
        )
        .outerjoin(product_licences, product_licences.c.product_id == Product.id)
        .union_all(
            select(
                Placement.product_id,
                Placement.platform,
                Placement.effective_from,
                placement_licences.c.sku_id,
            ).outerjoin(placement_licences, placement_licences.c.placement_id == Placement.id)
        )
    ):
        skus = (
            own.setdefault(product_id, [])
            if platform is None
            else placed.setdefault((product_id, platform), {}).setdefault(effective_from, [])
        )
        if sku_id is not None:
            skus.append(sku_id)
    rows: list[tuple[int, int, str, int]] = []
    for index, month in enumerate(months):
        for product_id, own_bill in own.items():
            for platform in platforms:
                history = placed.get((product_id, platform), {})
                in_force = [start for start in history if start <= str(month)]
                bill = history[max(in_force)] if in_force else own_bill
                rows.extend((index, product_id, platform, sku_id) for sku_id in bill)
    return rows


def _month_sums(source: CTE | Subquery, months: int) -> list[ColumnElement[Any]]:
    return [func.coalesce(func.sum(source.c[f"m{index}"]), 0) for index in range(months)]


def monthly_figures(months: list[BillingPeriod], tz: ZoneInfo, currency: str) -> list[MonthFigures]:
    """Revenue, licence cost and seats of each month, in ``currency``, in a fixed number of queries.

    The people are counted by the database (grouped per person, then summed per month): what
    comes back is a row per month or per SKU, whatever the number of clients and intervals.
    """
    periods = [str(month) for month in months]
    revenue = dict(
        db.session.execute(
            select(InvoiceLine.period, func.sum(InvoiceLine.amount_minor - _included_tax))
            .where(InvoiceLine.period.in_(periods), InvoiceLine.currency == currency)
            .group_by(InvoiceLine.period)
        ).all()
    )

    held = _held_per_month(months, tz)
    # A person is one seat per product, whatever platforms they held it on.
    people = (
        select(
            held.c.client_id,
            held.c.product_id,
            held.c.user_key,
            *(func.max(held.c[f"m{index}"]).label(f"m{index}") for index in range(len(months))),
        )
        .group_by(held.c.client_id, held.c.product_id, held.c.user_key)
        .subquery("people")
    )
    bill_rows = _bill_rows(months, tz)
    # Never an empty VALUES (not valid SQL): a row no person can join stands in. A CTE, as SQLite
    # reads no column names on a VALUES in FROM.
    bills = (
        values(
            column("month_index", Integer),
            column("product_id", Integer),
            column("platform", String),
            column("sku_id", Integer),
            name="bills",
        )
        .data(bill_rows or [(-1, -1, "", -1)])
        .cte("bills")
    )
    # As the SPLA report counts: a person holding a SKU through two products counts once; each
    # month through the bill in force for it on the platform held.
    licensed = (
        select(
            held.c.client_id,
            bills.c.sku_id,
            held.c.user_key,
            *(
                func.max(case((bills.c.month_index == index, held.c[f"m{index}"]), else_=0)).label(
                    f"m{index}"
                )
                for index in range(len(months))
            ),
        )
        .join(bills, and_(bills.c.product_id == held.c.product_id, bills.c.platform == held.c.platform))
        .group_by(held.c.client_id, bills.c.sku_id, held.c.user_key)
        .subquery("licensed")
    )
    # One statement, so that the people are grouped once: the row without a SKU is the seats.
    seats = [0] * len(months)
    people_by_sku: dict[int, list[int]] = {}
    for sku_id, *counts in db.session.execute(
        select(cast(null(), Integer).label("sku_id"), *_month_sums(people, len(months))).union_all(
            select(licensed.c.sku_id, *_month_sums(licensed, len(months))).group_by(licensed.c.sku_id)
        )
    ):
        if sku_id is None:
            seats = [int(count) for count in counts]
        else:
            people_by_sku[sku_id] = [int(count) for count in counts]
    skus = {sku.id: sku for sku in db.session.scalars(select(LicenceSku))}
    # Each month at the costs in force for it, so a cost change never moves past margins.
    history = cost_history(list(skus.values()))
    costs = {str(month): in_force_in(history, month) for month in months}
    cost: dict[str, int] = {}
    for sku_id, counts in people_by_sku.items():
        sku = skus[sku_id]
        if sku.currency != currency:
            continue
        for month, count in zip(periods, counts, strict=True):
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
    vms: defaultdict[int, defaultdict[str, list[int | None]]] = defaultdict(lambda: defaultdict(list))
    # Most resellers have no per-core hosts: no query for their VMs then (the home page's budget).
    vm_rows = (
        db.session.execute(
            select(HostVm.host_id, HostVm.period, HostVm.vcpus).where(
                HostVm.host_id.in_([host.id for host, _ in hosts]), HostVm.period.in_(periods)
            )
        ).all()
        if hosts
        else []
    )
    for host_id, period, vcpus in vm_rows:
        vms[host_id][period].append(vcpus)
    for billing_month in months:
        start, stop = billing_month.bounds(tz)
        for host, sku in hosts:
            in_service = host.in_service_from < stop and (host.retired_at is None or host.retired_at > start)
            if in_service and sku.currency == currency:
                key = str(billing_month)
                packs = host_core_packs(host.edition, host.physical_cores, host.processors, vms[host.id][key])
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
