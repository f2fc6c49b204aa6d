"""The month in progress for one client: what its month close will bill for it if nothing changes.

The client's dashboard ("this month so far"), the reseller's page of the client and the order quote
read it. It is not a second rating: it reads the client's month with the close's own reading
(:func:`metering.billing.close.read_month`, narrowed to the client) and rates it with the close's own
call (:func:`metering.billing.close.rate_client`), so committed seats and metered usage are in it, at
the prices the close uses. It writes nothing, and it costs the same few queries whatever the client
or the rest of the ledger holds.

What it leaves out: adjustment lines for months already finalized (late usage), which the close adds
to the same invoice. They correct earlier months, and the reseller reviews them before they are sent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from metering.billing.close import rate_client, read_month
from metering.billing.models import LineKind
from metering.counting import LicenceInterval
from metering.ledger.services import end_user_key
from metering.periods import BillingPeriod
from metering.rating import InvoiceLineDraft, Price
from portal.accounts.models import Client, EndUser

__all__ = ["MonthEstimate", "estimate_month"]


@dataclass(frozen=True)
class MonthEstimate:
    """A client's month as its close would bill it now. Money in integer minor units per currency."""

    period: BillingPeriod
    # Seats, committed seats and their true-ups, metered usage: the close's lines for the month,
    # in the order the invoice lists them.
    lines: list[InvoiceLineDraft]
    product_names: dict[str, str]
    # The price of one unit of each product, as the close rates this month.
    prices: dict[str, Price]

    @property
    def totals(self) -> dict[str, int]:
        """One total per currency: a price book could mix them, and two currencies never add up."""
        totals: dict[str, int] = {}
        for line in self.lines:
            totals[line.currency] = totals.get(line.currency, 0) + line.amount_minor
        return totals

    @property
    def is_empty(self) -> bool:
        return not self.lines


def estimate_month(
    client: Client,
    now: datetime,
    tz: ZoneInfo,
    adding: Mapping[str, Collection[EndUser]] | None = None,
    in_service: Mapping[str, int] | None = None,
) -> MonthEstimate:
    """What the close of the billing month containing ``now`` (cut in ``tz``) would bill ``client``.

    The whole month is counted, as the close counts it: the ledger holds nothing that starts after
    ``now``, so for the month in progress that is the month so far.

    ``adding`` (product code -> people) counts those people as holding those products from ``now``
    on, as an order about to be placed would: the order quote prices "your month with this order"
    this way, so someone already counted this month, or a seat inside a commitment, adds nothing.

    ``in_service`` (product code -> number of seats) counts that many new seats as in service with
    nobody assigned from ``now`` on (a VoIP extension works from the start): each bills one unit.
    """
    period = BillingPeriod.containing(now, tz)
    plan = read_month(period, tz, now, client=client)
    if adding or in_service:
        # Hypothetical intervals, open from now, go in with the real ones: rating stays the judge.
        planned = [
            LicenceInterval(client=client.ref, end_user=end_user_key(person), product=code, start=now)
            for code, people in (adding or {}).items()
            for person in people
        ]
        # Seats not made yet have no id: negative numbers never meet a real seat's.
        planned += [
            LicenceInterval(client=client.ref, end_user=None, product=code, start=now, seat=-(index + 1))
            for index, code in enumerate(
                code for code, count in (in_service or {}).items() for _ in range(count)
            )
        ]
        plan.intervals[client.id] = [*plan.intervals.get(client.id, ()), *planned]
    # No adjustments were read (see read_month), so no invoice of this client needs leaving out.
    rated = rate_client(plan, client.id, None)
    return MonthEstimate(
        period=period,
        lines=[line for kind, line in rated if kind is LineKind.REGULAR],
        product_names=dict(plan.catalog.names),
        prices=dict(plan.catalog.prices),
    )
