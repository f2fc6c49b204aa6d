"""Snapshots in, intervals and device counts out: pure functions, any arrival order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from metering.counting import DeviceSnapshot, PeopleSnapshot, count_snapshot_devices, intervals_from_snapshots
from metering.periods import BillingPeriod
from metering.rating import Price, rate_device_counts

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)


def _day(n: int) -> datetime:
    return NOV_1 + timedelta(days=n - 1, hours=2)


def _people(day: int, *users: str, stream: str = "1:org-17") -> PeopleSnapshot:
    return PeopleSnapshot(stream=stream, as_of=_day(day), users=frozenset(users))


def test_a_person_holds_from_the_first_snapshot_with_them_until_the_next_one_without():
    spans = intervals_from_snapshots([_people(1, "ann", "bob"), _people(2, "ann"), _people(4, "ann", "bob")])

    assert spans == {"ann": [(_day(1), None)], "bob": [(_day(1), _day(2)), (_day(4), None)]}


@given(st.permutations(range(6)))
def test_the_order_snapshots_arrive_in_changes_nothing(order):
    snapshots = [
        _people(1, "ann", "bob"),
        _people(2, "ann"),
        _people(3),
        _people(4, "bob"),
        _people(5, "ann", "bob"),
        _people(6, "ann", "bob"),
    ]

    assert intervals_from_snapshots([snapshots[i] for i in order]) == intervals_from_snapshots(snapshots)


def test_another_site_keeps_a_person_holding_and_overlaps_are_merged():
    spans = intervals_from_snapshots(
        [
            _people(1, "ann", stream="1:site-a"),
            _people(3, stream="1:site-a"),
            _people(2, "ann", stream="1:site-b"),
            _people(5, stream="1:site-b"),
        ]
    )

    assert spans == {"ann": [(_day(1), _day(5))]}


def _devices(
    day: int, quantity: int, stream: str = "1:org-17", product: str = "rmm-agents"
) -> DeviceSnapshot:
    return DeviceSnapshot(client="acme", product=product, stream=stream, as_of=_day(day), quantity=quantity)


def test_30_daily_counts_of_12_devices_are_12_not_360():
    counts = count_snapshot_devices([_devices(day, 12) for day in range(1, 31)], NOV_1, DEC_1)

    assert counts == {("acme", "rmm-agents"): 12}


def test_the_peak_or_the_rounded_average_and_sites_add_up():
    snapshots = [_devices(1, 10), _devices(2, 13), _devices(3, 10), _devices(1, 5, stream="1:site-b")]

    assert count_snapshot_devices(snapshots, NOV_1, DEC_1) == {("acme", "rmm-agents"): 13 + 5}
    # (10 + 13 + 10) / 3 = 11 rounded half up, plus the other site's 5.
    assert count_snapshot_devices(snapshots, NOV_1, DEC_1, averaged={"rmm-agents"}) == {
        ("acme", "rmm-agents"): 16
    }


def test_only_the_months_snapshots_count_and_zero_bills_nothing():
    snapshots = [
        DeviceSnapshot("acme", "rmm-agents", "1:o", NOV_1 - timedelta(seconds=1), 40),
        DeviceSnapshot("acme", "rmm-agents", "1:o", DEC_1, 50),
        _devices(3, 0),
    ]

    assert count_snapshot_devices(snapshots, NOV_1, DEC_1) == {}


def test_a_device_line_says_which_figure_it_bills():
    (line,) = rate_device_counts(
        {("acme", "rmm-agents"): 12},
        {"rmm-agents": Price(300, "USD")},
        BillingPeriod(2026, 11),
        {"rmm-agents": "Managed devices"},
        averaged={"rmm-agents"},
    )

    assert (line.quantity, line.amount_minor) == (12, 3600)
    assert line.description == "Managed devices — 12 devices (monthly average), November 2026"
