"""What the reseller needs to trust a monthly bill: who changed, who held what and for how long,
and what looks unusual. Pure functions over ledger intervals; :mod:`metering.billing.review_rows`
gathers the data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from metering.counting import LicenceInterval


@dataclass(frozen=True)
class Holding:
    """One user's hold on one product in the period: the spans, in local dates, and the days."""

    user: str
    spans: tuple[tuple[date, date], ...]  # inclusive local dates of each held span
    days: int


def holdings(
    intervals: Iterable[LicenceInterval],
    client: str,
    product: str,
    start: datetime,
    stop: datetime,
    tz: ZoneInfo,
) -> list[Holding]:
    """Who held ``product`` at ``client`` in [start, stop), and on which days (in the billing zone)."""
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for interval in intervals:
        # A seat in service with nobody on it is billed, but it is nobody's holding.
        if interval.client != client or interval.product != product or interval.end_user is None:
            continue
        begin = max(interval.start, start)
        end = stop if interval.stop is None else min(interval.stop, stop)
        if end > begin:
            spans[interval.end_user].append((begin, end))
    result = []
    for user, user_spans in spans.items():
        local = []
        days: set[date] = set()
        for begin, end in sorted(user_spans):
            first = begin.astimezone(tz).date()
            # The stop is exclusive: a span ending at local midnight does not touch that day.
            last = (end - timedelta(microseconds=1)).astimezone(tz).date()
            local.append((first, last))
            days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
        result.append(Holding(user=user, spans=tuple(_merge(local)), days=len(days)))
    return sorted(result, key=lambda holding: holding.user)


def _merge(spans: list[tuple[date, date]]) -> list[tuple[date, date]]:
    merged: list[tuple[date, date]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


@dataclass(frozen=True)
class UserChanges:
    added: tuple[str, ...]
    removed: tuple[str, ...]


def user_changes(this_period: Iterable[str], previous_period: Iterable[str]) -> UserChanges:
    current, previous = set(this_period), set(previous_period)
    return UserChanges(added=tuple(sorted(current - previous)), removed=tuple(sorted(previous - current)))


# A jump worth a second look: at least this many more users and this share more than last month.
JUMP_MIN_USERS = 3
JUMP_MIN_RATIO = 1.5


def unusual(
    quantities: Mapping[str, int],
    previous_quantities: Mapping[str, int],
    users_without_seat: Iterable[str],
    has_payment_method: bool,
    product_names: Mapping[str, str],
) -> list[str]:
    """Plain-words flags for one client's draft bill."""
    flags = []
    for product, quantity in sorted(quantities.items()):
        before = previous_quantities.get(product, 0)
        if quantity - before >= JUMP_MIN_USERS and quantity >= before * JUMP_MIN_RATIO:
            name = product_names.get(product, product)
            flags.append(f"{name}: {quantity} users, up from {before} last month.")
    orphans = sorted(set(users_without_seat))
    if orphans:
        flags.append(f"Usage reported with no seat in the portal for: {', '.join(orphans)}.")
    if not has_payment_method:
        flags.append("No payment method on file: the invoice cannot be charged automatically.")
    return flags
