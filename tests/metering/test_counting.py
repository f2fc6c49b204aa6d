"""SPLA-style counting: who owes a licence in a month."""

import random
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metering.counting import (
    LicenceInterval,
    core_license_packs,
    count_product_users,
    count_sku_users,
    count_unassigned_seats,
)
from metering.periods import BillingPeriod

BILL_OF_LICENCES = {
    "desktop": ["WINRDS-SAL", "OFFSTD-SAL"],
    "desktop-pro": ["WINRDS-SAL", "OFFPRO-SAL"],
    "exchange": ["EXSTD-SAL"],
    "exchange-plus": ["EXSTDPLUS-SAL"],
    "voip": [],
}

OCTOBER = BillingPeriod(2026, 10)
OCT_START, OCT_STOP = OCTOBER.bounds(UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def iv(user, product, start, stop=None, client="acme-law"):
    return LicenceInterval(client=client, end_user=user, product=product, start=start, stop=stop)


def counts(result):
    return {key: len(users) for key, users in result.items()}


# --- the interval itself -------------------------------------------------------------------------------


def test_interval_rejects_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        iv("alice@acme.test", "desktop", datetime(2026, 10, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        iv("alice@acme.test", "desktop", utc(2026, 10, 1), datetime(2026, 10, 2))


def test_interval_rejects_stop_before_start():
    with pytest.raises(ValueError, match="before it starts"):
        iv("alice@acme.test", "desktop", utc(2026, 10, 2), utc(2026, 10, 1))


def test_zero_length_interval_holds_nothing():
    instant = utc(2026, 10, 15)
    assert (
        count_product_users([iv("alice@acme.test", "desktop", instant, instant)], OCT_START, OCT_STOP) == {}
    )


def test_window_must_be_aware_and_non_empty():
    with pytest.raises(ValueError, match="timezone-aware"):
        count_product_users([], datetime(2026, 10, 1), OCT_STOP)
    with pytest.raises(ValueError, match="empty"):
        count_product_users([], OCT_STOP, OCT_START)


# --- per-product counting ------------------------------------------------------------------------------


def test_one_minute_in_the_month_counts_as_a_full_user():
    one_minute = iv("alice@acme.test", "desktop", utc(2026, 10, 17, 9, 0), utc(2026, 10, 17, 9, 1))
    assert counts(count_product_users([one_minute], OCT_START, OCT_STOP)) == {("acme-law", "desktop"): 1}


def test_seat_reassigned_mid_month_counts_both_users():
    intervals = [
        iv("alice@acme.test", "desktop", utc(2026, 9, 1), utc(2026, 10, 14, 12)),
        iv("bob@acme.test", "desktop", utc(2026, 10, 14, 12)),
    ]
    result = count_product_users(intervals, OCT_START, OCT_STOP)
    assert result == {("acme-law", "desktop"): frozenset({"alice@acme.test", "bob@acme.test"})}
    # November only bob.
    nov_start, nov_stop = OCTOBER.next().bounds(UTC)
    assert count_product_users(intervals, nov_start, nov_stop) == {
        ("acme-law", "desktop"): frozenset({"bob@acme.test"})
    }


def test_same_user_with_two_seats_of_one_product_counts_once():
    intervals = [
        iv("alice@acme.test", "desktop", utc(2026, 10, 1), utc(2026, 10, 5)),
        iv("alice@acme.test", "desktop", utc(2026, 10, 20)),
        iv("alice@acme.test", "desktop", utc(2026, 10, 3), utc(2026, 10, 25)),
    ]
    assert counts(count_product_users(intervals, OCT_START, OCT_STOP)) == {("acme-law", "desktop"): 1}


def test_interval_ending_exactly_at_month_start_does_not_count():
    ended = iv("alice@acme.test", "desktop", utc(2026, 9, 1), OCT_START)
    assert count_product_users([ended], OCT_START, OCT_STOP) == {}


def test_interval_starting_exactly_at_month_stop_does_not_count():
    future = iv("alice@acme.test", "desktop", OCT_STOP)
    assert count_product_users([future], OCT_START, OCT_STOP) == {}


def test_interval_starting_at_month_start_or_ending_at_month_stop_counts():
    intervals = [
        iv("alice@acme.test", "desktop", OCT_START, OCT_START + timedelta(seconds=1)),
        iv("bob@acme.test", "desktop", OCT_STOP - timedelta(seconds=1), OCT_STOP),
    ]
    assert counts(count_product_users(intervals, OCT_START, OCT_STOP)) == {("acme-law", "desktop"): 2}


def test_open_intervals_count_from_their_start_onwards():
    open_since_august = iv("alice@acme.test", "exchange", utc(2026, 8, 3))
    open_from_november = iv("bob@acme.test", "exchange", utc(2026, 11, 2))
    result = count_product_users([open_since_august, open_from_november], OCT_START, OCT_STOP)
    assert result == {("acme-law", "exchange"): frozenset({"alice@acme.test"})}


def test_clients_are_counted_separately():
    intervals = [
        iv("alice@acme.test", "desktop", utc(2026, 10, 2), client="acme-law"),
        iv("alice@acme.test", "desktop", utc(2026, 10, 2), client="bayside-clinic"),
        iv("carol@bayside.test", "desktop", utc(2026, 10, 2), client="bayside-clinic"),
    ]
    assert counts(count_product_users(intervals, OCT_START, OCT_STOP)) == {
        ("acme-law", "desktop"): 1,
        ("bayside-clinic", "desktop"): 2,
    }


def test_accepts_a_one_shot_iterator():
    intervals = (iv(f"user{i}@acme.test", "desktop", utc(2026, 10, 2)) for i in range(3))
    assert counts(count_product_users(intervals, OCT_START, OCT_STOP)) == {("acme-law", "desktop"): 3}


# --- month edges in the billing time zone -------------------------------------------------------------


def test_new_york_month_edges():
    new_york = ZoneInfo("America/New_York")
    # 23:30 on Oct 31 in New York is 03:30Z on Nov 1: October in New York, November in UTC.
    late = iv(
        "alice@acme.test",
        "desktop",
        datetime(2026, 10, 31, 23, 30, tzinfo=new_york),
        datetime(2026, 10, 31, 23, 45, tzinfo=new_york),
    )
    # 23:00 on Sep 30 in New York is 03:00Z on Oct 1: September in New York, October in UTC.
    early = iv(
        "bob@acme.test",
        "desktop",
        datetime(2026, 9, 30, 23, 0, tzinfo=new_york),
        datetime(2026, 9, 30, 23, 59, tzinfo=new_york),
    )
    oct_ny = OCTOBER.bounds(new_york)
    nov_ny = OCTOBER.next().bounds(new_york)
    assert count_product_users([late, early], *oct_ny) == {
        ("acme-law", "desktop"): frozenset({"alice@acme.test"})
    }
    assert count_product_users([late, early], *nov_ny) == {}
    assert count_product_users([late, early], OCT_START, OCT_STOP) == {
        ("acme-law", "desktop"): frozenset({"bob@acme.test"})
    }


def test_auckland_month_edges():
    auckland = ZoneInfo("Pacific/Auckland")
    late_october = iv(
        "alice@acme.test",
        "desktop",
        datetime(2026, 10, 31, 23, 30, tzinfo=auckland),
        datetime(2026, 10, 31, 23, 50, tzinfo=auckland),
    )
    # 00:30 on Nov 1 in Auckland is still October 31 in UTC.
    early_november = iv(
        "bob@acme.test",
        "desktop",
        datetime(2026, 11, 1, 0, 30, tzinfo=auckland),
        datetime(2026, 11, 1, 1, 0, tzinfo=auckland),
    )
    intervals = [late_october, early_november]
    assert count_product_users(intervals, *OCTOBER.bounds(auckland)) == {
        ("acme-law", "desktop"): frozenset({"alice@acme.test"})
    }
    assert count_product_users(intervals, *OCTOBER.next().bounds(auckland)) == {
        ("acme-law", "desktop"): frozenset({"bob@acme.test"})
    }
    # Cut in UTC instead, both fall in October: the billing time zone matters.
    assert counts(count_product_users(intervals, OCT_START, OCT_STOP)) == {("acme-law", "desktop"): 2}


# --- per-SKU counting ----------------------------------------------------------------------------------


def test_user_with_desktop_and_desktop_pro_counts_once_per_sku():
    intervals = [
        iv("alice@acme.test", "desktop", utc(2026, 10, 1), utc(2026, 10, 10)),
        iv("alice@acme.test", "desktop-pro", utc(2026, 10, 10)),
    ]
    result = count_sku_users(intervals, BILL_OF_LICENCES, OCT_START, OCT_STOP)
    assert counts(result) == {
        ("acme-law", "WINRDS-SAL"): 1,
        ("acme-law", "OFFSTD-SAL"): 1,
        ("acme-law", "OFFPRO-SAL"): 1,
    }


def test_sku_counts_for_a_small_office():
    intervals = [
        iv("alice@acme.test", "desktop", utc(2026, 9, 1)),
        iv("bob@acme.test", "desktop-pro", utc(2026, 10, 12)),
        iv("alice@acme.test", "exchange", utc(2026, 9, 1)),
        iv("bob@acme.test", "exchange-plus", utc(2026, 10, 12)),
        iv("carol@acme.test", "exchange", utc(2026, 9, 1), utc(2026, 10, 2)),
        iv("carol@acme.test", "voip", utc(2026, 9, 1)),
    ]
    assert counts(count_sku_users(intervals, BILL_OF_LICENCES, OCT_START, OCT_STOP)) == {
        ("acme-law", "WINRDS-SAL"): 2,
        ("acme-law", "OFFSTD-SAL"): 1,
        ("acme-law", "OFFPRO-SAL"): 1,
        ("acme-law", "EXSTD-SAL"): 2,
        ("acme-law", "EXSTDPLUS-SAL"): 1,
    }


def test_voip_carries_no_sku():
    intervals = [iv("alice@acme.test", "voip", utc(2026, 10, 1))]
    assert count_sku_users(intervals, BILL_OF_LICENCES, OCT_START, OCT_STOP) == {}
    # ...but the client is still billed for the VoIP seat itself.
    assert counts(count_product_users(intervals, OCT_START, OCT_STOP)) == {("acme-law", "voip"): 1}


def test_product_missing_from_bill_of_licences_raises_naming_it():
    intervals = [iv("alice@acme.test", "sharepoint", utc(2026, 10, 1))]
    with pytest.raises(KeyError, match="sharepoint"):
        count_sku_users(intervals, BILL_OF_LICENCES, OCT_START, OCT_STOP)


def test_bill_of_licences_given_as_a_bare_string_is_rejected():
    intervals = [iv("alice@acme.test", "exchange", utc(2026, 10, 1))]
    with pytest.raises(TypeError, match="list of SKUs"):
        count_sku_users(intervals, {"exchange": "EXSTD-SAL"}, OCT_START, OCT_STOP)


# --- per-core server licences --------------------------------------------------------------------------


# A host licenses at least 16 cores however few it has (issue 11, item 5): a one-processor host of
# 1 to 16 cores needs 8 packs, where the old formula (8 per processor only) asked for 4 or 5.
@pytest.mark.parametrize(
    ("cores", "processors", "packs"),
    [(4, 1, 8), (8, 1, 8), (9, 1, 8), (20, 2, 10), (6, 2, 8), (16, 2, 8), (17, 2, 9), (64, 4, 32), (1, 1, 8)],
)
def test_core_license_packs(cores, processors, packs):
    assert core_license_packs(cores, processors) == packs


@pytest.mark.parametrize(("cores", "processors"), [(0, 1), (4, 0), (-2, 1), (8, -1)])
def test_core_license_packs_rejects_non_positive(cores, processors):
    with pytest.raises(ValueError, match="positive"):
        core_license_packs(cores, processors)


# --- properties ----------------------------------------------------------------------------------------

BASE = utc(2026, 9, 20)
USERS = ["alice@acme.test", "bob@acme.test", "carol@acme.test", "dave@acme.test", "erin@acme.test"]
CLIENTS = ["acme-law", "bayside-clinic"]


@st.composite
def intervals_strategy(draw):
    start_min = draw(st.integers(0, 60 * 24 * 50))
    length = draw(st.one_of(st.none(), st.integers(0, 60 * 24 * 20)))
    start = BASE + timedelta(minutes=start_min)
    stop = None if length is None else start + timedelta(minutes=length)
    return LicenceInterval(
        client=draw(st.sampled_from(CLIENTS)),
        end_user=draw(st.sampled_from(USERS)),
        product=draw(st.sampled_from(sorted(BILL_OF_LICENCES))),
        start=start,
        stop=stop,
    )


ledgers = st.lists(intervals_strategy(), max_size=30)


def brute_force_holders(intervals, start, stop):
    """Reference: minute-free overlap definition, written independently of the implementation."""
    result = {}
    for interval in intervals:
        effective_stop = interval.stop if interval.stop is not None else datetime.max.replace(tzinfo=UTC)
        if max(interval.start, start) < min(effective_stop, stop):
            result.setdefault((interval.client, interval.product), set()).add(interval.end_user)
    return {key: frozenset(users) for key, users in result.items()}


@given(ledger=ledgers)
def test_product_counts_match_reference_and_never_exceed_distinct_users(ledger):
    result = count_product_users(ledger, OCT_START, OCT_STOP)
    assert result == brute_force_holders(ledger, OCT_START, OCT_STOP)
    for (client, product), users in result.items():
        assert len(users) <= len({i.end_user for i in ledger if i.client == client and i.product == product})
    skus = count_sku_users(ledger, BILL_OF_LICENCES, OCT_START, OCT_STOP)
    for (client, _sku), users in skus.items():
        assert len(users) <= len({i.end_user for i in ledger if i.client == client})


@given(ledger=ledgers, index=st.integers(0, 29), cut=st.integers(0, 60 * 24 * 30))
def test_splitting_an_interval_never_changes_counts(ledger, index, cut):
    if not ledger:
        return
    target = ledger[index % len(ledger)]
    cut_at = target.start + timedelta(minutes=cut)
    if target.stop is not None:
        cut_at = min(cut_at, target.stop)
    first = LicenceInterval(target.client, target.end_user, target.product, target.start, cut_at)
    second = LicenceInterval(target.client, target.end_user, target.product, cut_at, target.stop)
    split = [*ledger[: index % len(ledger)], first, second, *ledger[index % len(ledger) + 1 :]]
    assert count_product_users(split, OCT_START, OCT_STOP) == count_product_users(ledger, OCT_START, OCT_STOP)
    assert count_sku_users(split, BILL_OF_LICENCES, OCT_START, OCT_STOP) == count_sku_users(
        ledger, BILL_OF_LICENCES, OCT_START, OCT_STOP
    )


@given(ledger=ledgers, seed=st.randoms(use_true_random=False))
def test_sku_counts_do_not_depend_on_interval_order(ledger, seed):
    shuffled = list(ledger)
    seed.shuffle(shuffled)
    assert count_sku_users(shuffled, BILL_OF_LICENCES, OCT_START, OCT_STOP) == count_sku_users(
        ledger, BILL_OF_LICENCES, OCT_START, OCT_STOP
    )


@given(ledger=ledgers)
@settings(max_examples=50)
def test_every_holder_is_counted_in_some_month(ledger):
    """An interval with positive length is counted in each month it touches and in no other."""
    periods = [
        BillingPeriod(2026, 9),
        BillingPeriod(2026, 10),
        BillingPeriod(2026, 11),
        BillingPeriod(2026, 12),
    ]
    for interval in ledger:
        if interval.stop is not None and interval.stop == interval.start:
            continue
        touched = [p for p in periods if interval.overlaps(*p.bounds(UTC))]
        assert touched, interval
        for period in periods:
            holders = count_product_users([interval], *period.bounds(UTC))
            assert (period in touched) == bool(holders)


# --- scale ---------------------------------------------------------------------------------------------


def test_two_hundred_thousand_intervals_count_quickly():
    rng = random.Random(20261001)
    products = sorted(BILL_OF_LICENCES)
    intervals = []
    for n in range(200_000):
        start = BASE + timedelta(minutes=rng.randrange(60 * 24 * 60))
        stop = None if rng.random() < 0.3 else start + timedelta(minutes=rng.randrange(1, 60 * 24 * 40))
        intervals.append(
            LicenceInterval(
                f"client-{n % 2000}", f"user-{rng.randrange(20_000)}", rng.choice(products), start, stop
            )
        )
    began = time.perf_counter()
    product_counts = count_product_users(intervals, OCT_START, OCT_STOP)
    sku_counts = count_sku_users(intervals, BILL_OF_LICENCES, OCT_START, OCT_STOP)
    elapsed = time.perf_counter() - began
    assert elapsed < 10, f"counting 200,000 intervals took {elapsed:.1f}s"
    assert product_counts
    assert sku_counts


# --- seats in service with nobody counted through them --------------------------------------------------


def seat_iv(seat, user, start, stop=None, product="voip", client="acme-law"):
    return LicenceInterval(client=client, end_user=user, product=product, start=start, stop=stop, seat=seat)


def test_a_seat_in_service_with_nobody_counts_as_one_seat_and_no_user():
    intervals = [seat_iv(seat, None, utc(2026, 9, 28)) for seat in (1, 2, 3)]

    assert count_unassigned_seats(intervals, OCT_START, OCT_STOP) == {
        ("acme-law", "voip"): frozenset({1, 2, 3})
    }
    assert count_product_users(intervals, OCT_START, OCT_STOP) == {}
    # A seat with nobody holds no SAL, whatever its product's bill of licences says.
    desktop = [seat_iv(4, None, utc(2026, 10, 2), product="desktop")]
    assert count_sku_users(desktop, BILL_OF_LICENCES, OCT_START, OCT_STOP) == {}


def test_a_person_who_held_the_seat_that_month_is_counted_instead_of_the_seat():
    intervals = [
        seat_iv(1, None, utc(2026, 9, 28), utc(2026, 10, 10)),
        seat_iv(1, "bob@acme.test", utc(2026, 10, 10), utc(2026, 10, 20)),
        seat_iv(1, None, utc(2026, 10, 20)),
        seat_iv(2, None, utc(2026, 9, 1), utc(2026, 10, 1)),  # out of service before October
        seat_iv(3, "carol@acme.test", utc(2026, 9, 1), utc(2026, 10, 1)),  # Carol only in September
        seat_iv(3, None, utc(2026, 10, 1)),
    ]

    assert count_unassigned_seats(intervals, OCT_START, OCT_STOP) == {("acme-law", "voip"): frozenset({3})}
    assert count_product_users(intervals, OCT_START, OCT_STOP) == {
        ("acme-law", "voip"): frozenset({"bob@acme.test"})
    }


def test_an_interval_with_nobody_names_its_seat():
    with pytest.raises(ValueError, match="seat"):
        LicenceInterval(client="acme-law", end_user=None, product="voip", start=utc(2026, 10, 1))
