"""Bill review helpers: days held in the billing zone, who changed, what looks unusual."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from metering.billing.review_changes import holdings, unusual, user_changes
from metering.counting import LicenceInterval

NY = ZoneInfo("America/New_York")
OCT_START = datetime(2026, 10, 1, 4, tzinfo=UTC)  # October 2026 in New York
NOV_START = datetime(2026, 11, 1, 4, tzinfo=UTC)


def interval(user, start, stop=None, product="desktop", client="acme"):
    return LicenceInterval(client=client, end_user=user, product=product, start=start, stop=stop)


def test_days_held_are_counted_in_the_billing_zone():
    intervals = [
        # 2026-10-03 09:00 to 2026-10-05 00:00 New York time: the 3rd and 4th only.
        interval(
            "alice@acme.example", datetime(2026, 10, 3, 13, tzinfo=UTC), datetime(2026, 10, 5, 4, tzinfo=UTC)
        ),
        # Held from before October and never stopped: the whole month.
        interval("bob@acme.example", datetime(2026, 9, 1, tzinfo=UTC)),
        interval("zed@other.example", datetime(2026, 9, 1, tzinfo=UTC), client="other"),
        interval("carol@acme.example", datetime(2026, 9, 1, tzinfo=UTC), product="exchange"),
    ]

    result = holdings(intervals, "acme", "desktop", OCT_START, NOV_START, NY)

    assert [(h.user, h.spans, h.days) for h in result] == [
        ("alice@acme.example", ((date(2026, 10, 3), date(2026, 10, 4)),), 2),
        ("bob@acme.example", ((date(2026, 10, 1), date(2026, 10, 31)),), 31),
    ]


def test_a_seat_in_service_with_nobody_on_it_is_no_ones_holding():
    intervals = [
        interval("bob@acme.example", datetime(2026, 9, 1, tzinfo=UTC)),
        LicenceInterval(
            client="acme", end_user=None, product="desktop", start=datetime(2026, 9, 1, tzinfo=UTC), seat=7
        ),
    ]

    result = holdings(intervals, "acme", "desktop", OCT_START, NOV_START, NY)

    assert [h.user for h in result] == ["bob@acme.example"]


def test_adjacent_spans_merge_and_days_are_not_counted_twice():
    intervals = [
        interval(
            "alice@acme.example", datetime(2026, 10, 2, 14, tzinfo=UTC), datetime(2026, 10, 2, 15, tzinfo=UTC)
        ),
        interval(
            "alice@acme.example", datetime(2026, 10, 2, 20, tzinfo=UTC), datetime(2026, 10, 4, 12, tzinfo=UTC)
        ),
        interval(
            "alice@acme.example",
            datetime(2026, 10, 20, 12, tzinfo=UTC),
            datetime(2026, 10, 20, 13, tzinfo=UTC),
        ),
    ]

    [alice] = holdings(intervals, "acme", "desktop", OCT_START, NOV_START, NY)

    assert alice.spans == ((date(2026, 10, 2), date(2026, 10, 4)), (date(2026, 10, 20), date(2026, 10, 20)))
    assert alice.days == 4


def test_user_changes_against_last_month():
    changes = user_changes({"alice", "carol"}, {"alice", "bob"})

    assert changes.added == ("carol",)
    assert changes.removed == ("bob",)


def test_unusual_flags():
    flags = unusual(
        quantities={"desktop": 9, "exchange": 4},
        previous_quantities={"desktop": 3, "exchange": 3},
        users_without_seat=["ghost@acme.example"],
        has_payment_method=False,
        product_names={"desktop": "Hosted Desktop"},
    )

    assert flags == [
        "Hosted Desktop: 9 users, up from 3 last month.",
        "Usage reported with no seat in the portal for: ghost@acme.example.",
        "No payment method on file: the invoice cannot be charged automatically.",
    ]
    assert unusual({"desktop": 3}, {"desktop": 3}, [], True, {}) == []
