"""Usage events: atomic batches, duplicates by id, any order, and the intervals they make."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from metering.ledger.models import IntervalSource, LedgerInterval
from metering.usage.models import UsageEvent
from metering.usage.services import ingest_usage_events
from portal.accounts.end_user_services import add_end_user
from portal.db import db
from portal.errors import InvalidInput
from tests.metering.months import TESTS, event


def _intervals(user: str = "alice@acme.example") -> list[tuple[datetime, datetime | None]]:
    rows = db.session.scalars(
        select(LedgerInterval).where(LedgerInterval.user_key == user).order_by(LedgerInterval.start_at)
    )
    return [(row.start_at, row.stop_at) for row in rows]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _count(model: type) -> int | None:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def acme(month, make_client):
    return make_client("acme")


def test_start_and_stop_make_a_usage_interval_keyed_by_lowercased_user(month, acme):
    result = month.events(
        event("e-1", "acme", "Alice@Acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e-2", "acme", "alice@acme.example", "desktop", "stop", "2026-10-20T17:00:00+02:00"),
    )

    assert (result.accepted, result.duplicates) == (2, 0)
    assert _intervals() == [(_utc("2026-10-03T09:00:00Z"), _utc("2026-10-20T15:00:00Z"))]
    (row,) = db.session.scalars(select(LedgerInterval)).all()
    assert row.source is IntervalSource.USAGE


def test_usage_interval_links_the_end_user_with_that_email(month, acme):
    alice = add_end_user(TESTS, acme, "Alice", "alice@acme.example")
    db.session.commit()

    month.events(event("e-1", "acme", "ALICE@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))

    assert db.session.scalars(select(LedgerInterval.end_user_id)).one() == alice.id


def test_the_same_batch_twice_is_all_duplicates_and_changes_nothing(month, acme):
    batch = [
        event("e-1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e-2", "acme", None, "voip-minutes", "usage", "2026-10-03T10:00:00Z", quantity=42),
    ]
    month.events(*batch)

    again = month.events(*batch)

    assert (again.accepted, again.duplicates) == (0, 2)
    assert _count(UsageEvent) == 2
    assert len(_intervals()) == 1


def test_an_id_twice_in_one_batch_counts_the_second_as_a_duplicate(month, acme):
    result = month.events(
        event("e-1", "acme", None, "voip-minutes", "usage", "2026-10-03T10:00:00Z", quantity=5),
        event("e-1", "acme", None, "voip-minutes", "usage", "2026-10-03T10:00:00Z", quantity=5),
    )

    assert (result.accepted, result.duplicates) == (1, 1)


def test_a_duplicate_id_wins_even_with_different_content(month, acme):
    month.events(event("e-1", "acme", None, "voip-minutes", "usage", "2026-10-03T10:00:00Z", quantity=5))

    result = month.events(event("e-1", "zzz-unknown", None, "nope", "usage", "not a time", quantity=-1))

    assert (result.accepted, result.duplicates) == (0, 1)


def test_a_stop_before_its_start_in_the_same_batch_is_fine(month, acme):
    month.events(
        event("e-2", "acme", "alice@acme.example", "desktop", "stop", "2026-10-05T17:00:00Z"),
        event("e-1", "acme", "alice@acme.example", "desktop", "start", "2026-10-05T09:00:00Z"),
    )

    assert _intervals() == [(_utc("2026-10-05T09:00:00Z"), _utc("2026-10-05T17:00:00Z"))]


def test_events_arriving_out_of_order_across_batches_land_in_place(month, acme):
    month.events(
        event("e-1", "acme", "alice@acme.example", "desktop", "start", "2026-10-05T09:00:00Z"),
        event("e-4", "acme", "alice@acme.example", "desktop", "stop", "2026-10-05T17:00:00Z"),
    )

    month.events(
        event("e-3", "acme", "alice@acme.example", "desktop", "start", "2026-10-05T13:00:00Z"),
        event("e-2", "acme", "alice@acme.example", "desktop", "stop", "2026-10-05T12:00:00Z"),
    )

    assert _intervals() == [
        (_utc("2026-10-05T09:00:00Z"), _utc("2026-10-05T12:00:00Z")),
        (_utc("2026-10-05T13:00:00Z"), _utc("2026-10-05T17:00:00Z")),
    ]


def test_stop_then_start_at_the_same_instant_keeps_the_user_holding(month, acme):
    month.events(
        event("e-1", "acme", "alice@acme.example", "desktop", "start", "2026-10-05T09:00:00Z"),
        event("e-3", "acme", "alice@acme.example", "desktop", "start", "2026-10-06T09:00:00Z"),
        event("e-2", "acme", "alice@acme.example", "desktop", "stop", "2026-10-06T09:00:00Z"),
    )

    assert _intervals() == [
        (_utc("2026-10-05T09:00:00Z"), _utc("2026-10-06T09:00:00Z")),
        (_utc("2026-10-06T09:00:00Z"), None),
    ]


def test_a_later_stop_shortens_the_same_interval_row(month, acme):
    month.events(event("e-1", "acme", "alice@acme.example", "desktop", "start", "2026-10-05T09:00:00Z"))
    (before,) = db.session.scalars(select(LedgerInterval)).all()

    month.events(event("e-2", "acme", "alice@acme.example", "desktop", "stop", "2026-10-09T09:00:00Z"))

    (after,) = db.session.scalars(select(LedgerInterval)).all()
    assert after.id == before.id
    assert after.stop_at == _utc("2026-10-09T09:00:00Z")
    assert after.updated_at is not None


def test_one_bad_event_rejects_the_whole_batch_with_an_error_per_bad_event(month, acme):
    with pytest.raises(InvalidInput) as raised:
        ingest_usage_events(
            TESTS,
            [
                event("e-1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
                event("e-2", "nobody", "bob@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
                event("e-3", "acme", "carol@acme.example", "desktop", "begin", "2026-10-03T09:00:00Z"),
                event("e-4", "acme", "dave@acme.example", "desktop", "start", "2026-10-03T09:00:00"),
                event("e-5", "acme", "erin@acme.example", "teleporter", "start", "2026-10-03T09:00:00Z"),
            ],
        )
    db.session.rollback()

    fields = raised.value.fields
    assert list(fields) == ["events[1]", "events[2]", "events[3]", "events[4]"]
    assert "unknown client 'nobody'" in fields["events[1]"]
    assert "start, stop or usage" in fields["events[2]"]
    assert "no UTC offset" in fields["events[3]"]
    assert "unknown product 'teleporter'" in fields["events[4]"]
    assert fields["events[1]"].startswith("event 'e-2': ")
    assert "4 of 5 events are invalid" in raised.value.message
    assert _count(UsageEvent) == 0
    assert _count(LedgerInterval) == 0


def test_a_stop_with_no_earlier_start_counts_stored_events_and_the_batch(month, acme):
    month.events(event("e-1", "acme", "alice@acme.example", "desktop", "start", "2026-10-10T09:00:00Z"))

    # Before the stored start: no earlier start anywhere.
    with pytest.raises(InvalidInput) as raised:
        ingest_usage_events(
            TESTS, [event("e-2", "acme", "alice@acme.example", "desktop", "stop", "2026-10-09T09:00:00Z")]
        )
    db.session.rollback()
    assert "no earlier start" in raised.value.fields["events[0]"]

    # A start in the same batch, earlier than the stop, makes it valid.
    result = month.events(
        event("e-3", "acme", "alice@acme.example", "desktop", "stop", "2026-10-09T09:00:00Z"),
        event("e-4", "acme", "alice@acme.example", "desktop", "start", "2026-10-08T09:00:00Z"),
    )
    assert result.accepted == 2

    # A stop for someone else, or another product, does not borrow alice's start.
    with pytest.raises(InvalidInput):
        ingest_usage_events(
            TESTS,
            [
                event("e-5", "acme", "bob@acme.example", "desktop", "stop", "2026-10-11T09:00:00Z"),
                event("e-6", "acme", "alice@acme.example", "exchange", "stop", "2026-10-11T09:00:00Z"),
            ],
        )
    db.session.rollback()


def test_metered_and_per_user_products_take_their_own_actions(month, acme):
    with pytest.raises(InvalidInput) as raised:
        ingest_usage_events(
            TESTS,
            [
                event("e-1", "acme", None, "voip-minutes", "usage", "2026-10-03T10:00:00Z"),
                event("e-2", "acme", None, "desktop", "usage", "2026-10-03T10:00:00Z", quantity=3),
                event("e-3", "acme", "alice@acme.example", "voip-minutes", "start", "2026-10-03T10:00:00Z"),
                event("e-4", "acme", None, "desktop", "start", "2026-10-03T10:00:00Z"),
                event("e-5", "acme", None, "voip-minutes", "usage", "2026-10-03T10:00:00Z", quantity=True),
            ],
        )
    db.session.rollback()

    fields = raised.value.fields
    assert "quantity" in fields["events[0]"]
    assert "billed per user" in fields["events[1]"]
    assert "metered" in fields["events[2]"]
    assert "“user” is required" in fields["events[3]"]
    assert "quantity" in fields["events[4]"]


@pytest.mark.parametrize("batch", [None, {"events": []}, "events"])
def test_the_batch_must_be_a_list(month, batch):
    with pytest.raises(InvalidInput) as raised:
        ingest_usage_events(TESTS, batch)

    assert "events" in raised.value.fields


@pytest.mark.parametrize(
    "at",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z", "1999-12-31T23:59:59Z", "2101-01-01T00:00:00Z"],
)
def test_a_timestamp_outside_the_months_that_can_be_billed_is_refused(month, acme, at):
    with pytest.raises(InvalidInput) as raised:
        ingest_usage_events(TESTS, [event("e-1", "acme", "alice@acme.example", "desktop", "start", at)])
    db.session.rollback()
    assert "out of range: from 2000-01-01 to 2100-12-31" in raised.value.fields["events[0]"]
    assert _count(UsageEvent) == 0
