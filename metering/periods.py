"""Billing periods: calendar months cut in the reseller's billing time zone.

A :class:`BillingPeriod` is a calendar month (``"YYYY-MM"``). Its instants are the half-open range
``[start, stop)`` where ``start`` is local midnight on the 1st of the month in the billing time zone and
``stop`` is local midnight on the 1st of the following month, both returned as aware UTC datetimes.
Consecutive periods therefore tile the time line with no gap and no overlap, whatever DST does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

__all__ = ["FIRST_PERIOD", "LAST_PERIOD", "BillingPeriod", "require_aware"]

_PERIOD_RE = re.compile(r"([0-9]{4})-([0-9]{2})")

# Fixed English names: invoice text must not depend on the server's locale.
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def require_aware(value: datetime, name: str) -> None:
    """Raise ValueError unless ``value`` is a timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive datetime {value.isoformat()}")


@dataclass(frozen=True, order=True, slots=True)
class BillingPeriod:
    """One calendar billing month, e.g. ``BillingPeriod(2026, 10)`` printed as ``"2026-10"``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        for name in ("year", "month"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"BillingPeriod.{name} must be an int, got {value!r}")
        if not 1 <= self.year <= 9999:
            raise ValueError(f"BillingPeriod year must be between 1 and 9999, got {self.year}")
        if not 1 <= self.month <= 12:
            raise ValueError(f"BillingPeriod month must be between 1 and 12, got {self.month}")

    @classmethod
    def parse(cls, text: str) -> BillingPeriod:
        """Parse a strict ``YYYY-MM`` string such as ``"2026-10"``."""
        if not isinstance(text, str):
            raise TypeError(f"billing period must be a string like '2026-10', got {type(text).__name__}")
        match = _PERIOD_RE.fullmatch(text)
        if match is None:
            raise ValueError(f"invalid billing period {text!r}: expected YYYY-MM, e.g. '2026-10'")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"invalid billing period {text!r}: month must be 01-12")
        if year < 1:
            raise ValueError(f"invalid billing period {text!r}: year must be 0001-9999")
        return cls(year, month)

    @classmethod
    def containing(cls, instant: datetime, tz: tzinfo) -> BillingPeriod:
        """The billing period whose local calendar month (in ``tz``) contains ``instant``."""
        require_aware(instant, "instant")
        local = instant.astimezone(tz)
        period = cls(local.year, local.month)
        # Where clocks turn back over midnight, the wall clock briefly reads the last day of the old
        # month again after the new month has started; defer to bounds() so the two always agree.
        if instant < period.start_in(tz):
            return period.previous()
        if (period.year, period.month) != (9999, 12) and instant >= period.next().start_in(tz):
            return period.next()
        return period

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        """Human-readable month for invoices, e.g. ``"October 2026"``."""
        return f"{_MONTH_NAMES[self.month - 1]} {self.year}"

    def next(self) -> BillingPeriod:
        """The following month."""
        if self.month == 12:
            return BillingPeriod(self.year + 1, 1)
        return BillingPeriod(self.year, self.month + 1)

    def previous(self) -> BillingPeriod:
        """The preceding month."""
        if self.month == 1:
            return BillingPeriod(self.year - 1, 12)
        return BillingPeriod(self.year, self.month - 1)

    def start_in(self, tz: tzinfo) -> datetime:
        """First instant of this month in ``tz`` (local midnight on the 1st), as an aware UTC datetime.

        When local midnight falls in a DST gap the month starts at the transition instant; when it is
        ambiguous (clocks turned back over midnight) the month starts at its first occurrence.
        """
        # fold=0: for a gap, the pre-transition offset maps to the transition instant; for a repeated
        # hour, it selects the first occurrence. Either way it is the first instant of the 1st.
        return datetime(self.year, self.month, 1, tzinfo=tz).astimezone(UTC)

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """Half-open ``[start, stop)`` of this month cut in ``tz``, as aware UTC datetimes."""
        if self.year == 9999 and self.month == 12:
            raise ValueError("billing period 9999-12 has no representable end")
        return self.start_in(tz), self.next().start_in(tz)


# The months a person may name in a form, a URL, a query string or a command line. Wide enough for
# any real bill, narrow enough that the month before and after, the day after and every time zone
# shift of them always exist (9999-12 or 0001-01 made pages fail instead of answering).
FIRST_PERIOD = BillingPeriod(2000, 1)
LAST_PERIOD = BillingPeriod(2100, 12)
