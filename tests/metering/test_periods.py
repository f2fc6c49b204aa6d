"""Billing periods: parsing, navigation and month edges cut in the billing time zone."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metering.periods import BillingPeriod

NEW_YORK = ZoneInfo("America/New_York")
AUCKLAND = ZoneInfo("Pacific/Auckland")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_parse_and_str_round_trip():
    period = BillingPeriod.parse("2026-10")
    assert period == BillingPeriod(2026, 10)
    assert str(period) == "2026-10"
    assert period.label == "October 2026"


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-00",
        "2026-1",
        "26-10",
        "2026/10",
        "2026-10-01",
        " 2026-10",
        "2026-10\n",
        "",
        "0000-05",
        "\uff12\uff10\uff12\uff16-10",
        "October 2026",
    ],
)
def test_parse_rejects_anything_but_yyyy_mm(text):
    with pytest.raises(ValueError, match="billing period"):
        BillingPeriod.parse(text)


def test_constructor_rejects_bad_month():
    with pytest.raises(ValueError, match="month"):
        BillingPeriod(2026, 13)


def test_next_and_previous_cross_year():
    assert BillingPeriod(2026, 12).next() == BillingPeriod(2027, 1)
    assert BillingPeriod(2027, 1).previous() == BillingPeriod(2026, 12)
    assert BillingPeriod(2026, 10).next().previous() == BillingPeriod(2026, 10)


def test_periods_sort_chronologically():
    assert sorted([BillingPeriod(2027, 1), BillingPeriod(2026, 12), BillingPeriod(2026, 2)]) == [
        BillingPeriod(2026, 2),
        BillingPeriod(2026, 12),
        BillingPeriod(2027, 1),
    ]


def test_bounds_in_utc():
    assert BillingPeriod(2026, 2).bounds(UTC) == (utc(2026, 2, 1), utc(2026, 3, 1))


def test_bounds_in_new_york_october_and_november_across_dst_end():
    # DST ends 2026-11-01 02:00 local; midnight that day is still EDT (UTC-4).
    assert BillingPeriod(2026, 10).bounds(NEW_YORK) == (utc(2026, 10, 1, 4), utc(2026, 11, 1, 4))
    # November: starts EDT, ends EST (UTC-5), so it is one hour longer than 30 days.
    start, stop = BillingPeriod(2026, 11).bounds(NEW_YORK)
    assert (start, stop) == (utc(2026, 11, 1, 4), utc(2026, 12, 1, 5))
    assert stop - start == timedelta(days=30, hours=1)


def test_bounds_in_new_york_march_across_dst_start():
    start, stop = BillingPeriod(2026, 3).bounds(NEW_YORK)
    assert (start, stop) == (utc(2026, 3, 1, 5), utc(2026, 4, 1, 4))
    assert stop - start == timedelta(days=31, hours=-1)


def test_bounds_in_auckland_summer_time():
    # NZDT is UTC+13 in October 2026, so the month starts the previous UTC day.
    assert BillingPeriod(2026, 10).bounds(AUCKLAND) == (utc(2026, 9, 30, 11), utc(2026, 10, 31, 11))


def test_bounds_are_aware_utc():
    start, stop = BillingPeriod(2026, 10).bounds(AUCKLAND)
    assert start.utcoffset() == timedelta(0)
    assert stop.utcoffset() == timedelta(0)


def test_month_starting_inside_a_dst_gap_starts_at_the_transition():
    # Paraguay skipped 2023-10-01 00:00-01:00 local (UTC-4 -> UTC-3): October starts at the jump.
    asuncion = ZoneInfo("America/Asuncion")
    start, _ = BillingPeriod(2023, 10).bounds(asuncion)
    assert start == utc(2023, 10, 1, 4)
    assert BillingPeriod(2023, 9).bounds(asuncion)[1] == start
    assert BillingPeriod.containing(start, asuncion) == BillingPeriod(2023, 10)
    assert BillingPeriod.containing(start - timedelta(microseconds=1), asuncion) == BillingPeriod(2023, 9)


def test_month_starting_on_an_ambiguous_midnight_starts_at_its_first_occurrence():
    # Goose Bay turned clocks back from 00:01 to 23:01 on 2009-11-01 (UTC-3 -> UTC-4): the wall clock
    # read "October 31" again for an hour after November had begun. That hour belongs to November.
    goose_bay = ZoneInfo("America/Goose_Bay")
    start, _ = BillingPeriod(2009, 11).bounds(goose_bay)
    assert start == utc(2009, 11, 1, 3)
    repeated_hour = utc(2009, 11, 1, 3, 30)
    assert repeated_hour.astimezone(goose_bay).day == 31
    assert BillingPeriod.containing(repeated_hour, goose_bay) == BillingPeriod(2009, 11)


def test_containing_uses_the_billing_time_zone():
    # 2026-10-31 23:30 in New York is already November in UTC.
    instant = datetime(2026, 10, 31, 23, 30, tzinfo=NEW_YORK)
    assert BillingPeriod.containing(instant, NEW_YORK) == BillingPeriod(2026, 10)
    assert BillingPeriod.containing(instant, UTC) == BillingPeriod(2026, 11)
    # 2026-11-01 00:30 in Auckland is still October in UTC.
    instant = datetime(2026, 11, 1, 0, 30, tzinfo=AUCKLAND)
    assert BillingPeriod.containing(instant, AUCKLAND) == BillingPeriod(2026, 11)
    assert BillingPeriod.containing(instant, UTC) == BillingPeriod(2026, 10)


def test_containing_rejects_naive_datetime():
    with pytest.raises(ValueError, match="timezone-aware"):
        BillingPeriod.containing(datetime(2026, 10, 5), NEW_YORK)


ZONES = [
    UTC,
    NEW_YORK,
    AUCKLAND,
    ZoneInfo("Europe/London"),
    ZoneInfo("America/Asuncion"),
    ZoneInfo("Australia/Lord_Howe"),
    ZoneInfo("Asia/Kathmandu"),
    ZoneInfo("America/St_Johns"),
    ZoneInfo("America/Goose_Bay"),
]


@given(
    year=st.integers(1971, 2037),
    month=st.integers(1, 12),
    tz=st.sampled_from(ZONES),
)
def test_periods_tile_the_time_line(year, month, tz):
    period = BillingPeriod(year, month)
    start, stop = period.bounds(tz)
    assert start < stop
    assert period.next().bounds(tz)[0] == stop
    assert BillingPeriod.containing(start, tz) == period
    assert BillingPeriod.containing(stop - timedelta(microseconds=1), tz) == period
    assert BillingPeriod.containing(stop, tz) == period.next()
    assert BillingPeriod.parse(str(period)) == period
