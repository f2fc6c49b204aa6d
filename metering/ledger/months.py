"""Which months a ledger interval overlaps, computed by the database as bits of one integer.

Reading tens of thousands of intervals costs far more in converting their timestamps (and enum
columns) to Python objects than in the query itself; asking the database "which of these months does
each interval overlap" as an integer avoids that, and needs no GROUP BY over text.
"""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, literal, or_

from metering.ledger.models import LedgerInterval
from metering.periods import BillingPeriod


def month_flags(months: list[BillingPeriod], tz: ZoneInfo) -> list[ColumnElement[Any]]:
    """One column per month: 1 when the interval holds something in it (half-open, positive length), else 0.

    ``max()`` of a flag over a group says whether anything in the group held the month, in SQL that
    every backend runs (SQLite has no ``bit_or``).
    """
    return [month_flag(month, tz, 1) for month in months]


def month_flag(month: BillingPeriod, tz: ZoneInfo, value: int) -> ColumnElement[Any]:
    start, stop = month.bounds(tz)
    overlaps = and_(
        LedgerInterval.start_at < stop,
        or_(LedgerInterval.stop_at.is_(None), LedgerInterval.stop_at > start),
    )
    return case((overlaps, literal(value)), else_=literal(0))


def month_bits(months: list[BillingPeriod], tz: ZoneInfo) -> ColumnElement[Any]:
    """Bit ``i`` is set when the interval holds something in ``months[i]`` (half-open, positive length)."""
    return reduce(operator.add, [month_flag(month, tz, 1 << index) for index, month in enumerate(months)])


def overlapping_any(months: list[BillingPeriod], tz: ZoneInfo) -> ColumnElement[bool]:
    """The interval overlaps the span from the first month's start to the last month's end."""
    first_start, last_stop = months[0].bounds(tz)[0], months[-1].bounds(tz)[1]
    return and_(
        LedgerInterval.start_at < last_stop,
        or_(LedgerInterval.stop_at.is_(None), LedgerInterval.stop_at > first_start),
    )
