"""The month in progress, estimated the way the close will bill it: what a client sees "so far" on its
dashboard (and the reseller on the client's page) is what the close of that month bills for it,
committed seats and metered usage included."""

from __future__ import annotations

import re

import pytest

from metering.billing.close import read_month
from metering.billing.estimate import estimate_month
from metering.commitments.services import add_commitment
from metering.ledger.services import open_seat_interval
from metering.periods import BillingPeriod
from metering.settings import billing_timezone
from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Role
from portal.catalog.services import get_product
from portal.db import db, utcnow
from portal.orders.models import SeatState
from provisioning import place_order
from tests.metering.months import TESTS, event, lines_of

OCTOBER = BillingPeriod(2026, 10)
MID_OCTOBER = "2026-10-20T12:00:00Z"
AFTER_OCTOBER = "2026-11-02T12:00:00Z"


def _minor(figure: str) -> int:
    """ "$1,234.56" -> 123456 (the pages print whole minor units, never a rounded amount)."""
    match = re.fullmatch(r"\$([0-9,]+)\.([0-9]{2})", figure.strip())
    assert match is not None, f"not a dollar figure: {figure!r}"
    return int(match.group(1).replace(",", "")) * 100 + int(match.group(2))


def _so_far(page: str) -> int:
    match = re.search(r'id="month-so-far"><span class="figure">([^<]*)</span>', page)
    assert match is not None, "no month-so-far tile on the page"
    return _minor(match.group(1))


@pytest.fixture
def acme(make_client):
    return make_client("acme", "Acme Law LLP")


@pytest.fixture
def dashboard(client, acme, make_user, login):
    """The client admin's dashboard total, read through the real page."""
    login(make_user(Role.CLIENT_ADMIN, acme))

    def _read() -> int:
        response = client.get("/client/")
        assert response.status_code == 200
        return _so_far(response.get_data(as_text=True))

    return _read


def _start(*users: str, product: str = "desktop", at: str = "2026-10-03T09:00:00Z") -> list[dict]:
    return [
        event(f"{product}-{user}", "acme", f"{user}@acme.example", product, "start", at) for user in users
    ]


def _close_total(month, period: str = "2026-10") -> int:
    month.close(period)
    return month.invoice("acme", period)["total_minor"]


def test_a_committed_client_under_its_commitment_sees_what_the_close_bills(month, travel, acme, dashboard):
    add_commitment(TESTS, acme, get_product("desktop"), 3, OCTOBER)
    db.session.commit()
    travel(MID_OCTOBER)
    month.events(*_start("alice"))  # one person, three seats committed

    shown = dashboard()
    travel(AFTER_OCTOBER)
    billed = _close_total(month)

    assert billed == 3 * 3900
    assert shown == billed


def test_a_committed_client_above_its_commitment_sees_what_the_close_bills(month, travel, acme, dashboard):
    add_commitment(TESTS, acme, get_product("desktop"), 2, OCTOBER)
    db.session.commit()
    travel(MID_OCTOBER)
    month.events(*_start("alice", "bob", "carol", "dave"), *_start("alice", product="exchange"))

    shown = dashboard()
    travel(AFTER_OCTOBER)
    billed = _close_total(month)

    assert lines_of(month.invoice("acme", "2026-10")) == [
        ("desktop", "2026-10", 2, 3900, 7800),
        ("desktop", "2026-10", 2, 3900, 7800),  # the true-up: two people above the commitment
        ("exchange", "2026-10", 1, 800, 800),
    ]
    assert shown == billed == 4 * 3900 + 800


def test_a_committed_client_nobody_used_yet_sees_the_commitment(month, travel, acme, dashboard):
    add_commitment(TESTS, acme, get_product("desktop"), 2, OCTOBER)
    db.session.commit()
    travel(MID_OCTOBER)

    shown = dashboard()
    travel(AFTER_OCTOBER)

    assert shown == _close_total(month) == 2 * 3900


def test_a_client_without_commitment_sees_what_the_close_bills(month, travel, acme, dashboard):
    travel(MID_OCTOBER)
    month.events(*_start("alice", "bob"), *_start("bob", product="exchange"))

    shown = dashboard()
    travel(AFTER_OCTOBER)

    assert shown == _close_total(month) == 2 * 3900 + 800


def test_metered_usage_counts_so_far_as_the_close_bills_it(month, travel, acme, dashboard):
    travel(MID_OCTOBER)
    month.events(
        *_start("alice"),
        event("m1", "acme", None, "voip-minutes", "usage", "2026-10-10T15:00:00Z", quantity=120),
    )

    shown = dashboard()
    travel(AFTER_OCTOBER)

    assert shown == _close_total(month) == 3900 + 120 * 2


def test_the_resellers_page_of_a_committed_client_shows_what_the_close_bills(
    month, travel, acme, client, make_user, login
):
    add_commitment(TESTS, acme, get_product("desktop"), 3, OCTOBER)
    db.session.commit()
    travel(MID_OCTOBER)
    month.events(*_start("alice"))
    login(make_user(Role.RESELLER_ADMIN))

    shown = _so_far(client.get("/reseller/clients/acme").get_data(as_text=True))
    travel(AFTER_OCTOBER)

    assert shown == _close_total(month) == 3 * 3900


def test_corrections_of_a_finalized_month_are_not_in_the_next_month_so_far(month, travel, acme, dashboard):
    """The close adds them to the same invoice; "so far" is the month's own lines, to the cent."""
    add_commitment(TESTS, acme, get_product("desktop"), 1, OCTOBER)
    db.session.commit()
    travel(MID_OCTOBER)
    month.events(*_start("alice"))
    travel(AFTER_OCTOBER)
    month.close("2026-10")
    month.finalize("2026-10")
    # In November: bob's October desktop arrives late; October now owes one user more than billed.
    travel("2026-11-20T12:00:00Z")
    month.events(*_start("bob", at="2026-10-25T09:00:00Z"))

    shown = dashboard()
    travel("2026-12-02T12:00:00Z")
    month.close("2026-11")

    november = month.invoice("acme", "2026-11")
    assert lines_of(november) == [
        ("desktop", "2026-11", 1, 3900, 3900),
        ("desktop", "2026-11", 1, 3900, 3900),  # alice and bob go on holding it: one above
        ("desktop", "2026-10", 1, 3900, 3900),  # the adjustment for October
    ]
    own = sum(line["amount_minor"] for line in november["lines"] if line["period"] == "2026-11")
    assert shown == own == 2 * 3900


def test_the_estimate_has_the_lines_the_close_writes(app, month, travel, acme):
    add_commitment(TESTS, acme, get_product("desktop"), 2, OCTOBER)
    db.session.commit()
    travel(MID_OCTOBER)
    month.events(
        *_start("alice", "bob", "carol"),
        event("m1", "acme", None, "voip-minutes", "usage", "2026-10-10T15:00:00Z", quantity=30),
    )

    estimate = estimate_month(acme, utcnow(), billing_timezone())
    travel(AFTER_OCTOBER)
    month.close("2026-10")

    assert str(estimate.period) == "2026-10"
    invoice = month.invoice_row(acme.id, "2026-10")
    assert [
        (line.product, line.quantity, line.unit_amount_minor, line.amount_minor, line.description)
        for line in estimate.lines
    ] == [
        (line.product.code, line.quantity, line.unit_amount_minor, line.amount_minor, line.description)
        for line in invoice.lines
    ]
    assert estimate.totals == {invoice.currency: invoice.total_minor}


def test_one_clients_month_is_the_close_reading_narrowed_to_it(app, month, travel, acme, make_client):
    other = make_client("other")
    add_commitment(TESTS, acme, get_product("desktop"), 2, OCTOBER)
    add_commitment(TESTS, other, get_product("desktop"), 5, OCTOBER)
    db.session.commit()
    travel(MID_OCTOBER)
    month.events(
        *_start("alice", "bob"),
        event("x", "other", "xavier@other.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("m1", "acme", None, "voip-minutes", "usage", "2026-10-10T15:00:00Z", quantity=30),
        event("m2", "other", None, "voip-minutes", "usage", "2026-10-10T15:00:00Z", quantity=70),
    )
    tz, now = billing_timezone(), utcnow()

    everyone = read_month(OCTOBER, tz, now)
    one = read_month(OCTOBER, tz, now, client=acme)

    assert one.refs == {acme.id: "acme"}
    assert one.intervals == {acme.id: everyone.intervals[acme.id]}
    assert one.usage == {acme.id: everyone.usage[acme.id]} == {acme.id: {"voip-minutes": 30}}
    assert one.commitments == {acme.id: {"desktop": 2}}
    assert one.restate_from == {}
    assert (one.start, one.stop) == (everyone.start, everyone.stop) == OCTOBER.bounds(tz)


def _quoted(page: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}">(?:<strong>)?([^<]*)<', page)
    assert match is not None, f"no {element_id} on the confirmation page"
    return _minor(match.group(1))


def test_the_order_quote_shows_the_month_with_the_order_as_the_close_bills_it(
    month, travel, acme, client, make_user, login
):
    add_commitment(TESTS, acme, get_product("desktop"), 2, OCTOBER)
    bob, carol = (
        add_end_user(TESTS, acme, name, f"{name.lower()}@acme.example") for name in ("Bob", "Carol")
    )
    db.session.commit()
    travel(MID_OCTOBER)
    month.events(*_start("alice"))
    login(make_user(Role.CLIENT_ADMIN, acme))

    page = client.post(
        "/client/catalog/desktop/order", data={"quantity": "2", "end_users": [str(bob.id), str(carol.id)]}
    ).get_data(as_text=True)
    # The seats go live right away: bob and carol hold a desktop from now on.
    for seat in place_order(TESTS, acme, get_product("desktop"), 2, [bob, carol]).seats:
        seat.state = SeatState.ACTIVE
        open_seat_interval(seat, utcnow())
    db.session.commit()
    travel(AFTER_OCTOBER)
    billed = _close_total(month)

    assert _quoted(page, "unit-price") == 3900
    assert _quoted(page, "month-now") == 2 * 3900  # alice, inside the commitment of two
    assert _quoted(page, "month-with-order") == billed == 3 * 3900  # one above it


def test_someone_already_counted_this_month_adds_nothing_to_it(month, travel, acme):
    alice = add_end_user(TESTS, acme, "Alice", "Alice@Acme.example ")
    db.session.commit()
    travel(MID_OCTOBER)
    month.events(
        *_start("alice"),
        event("stop-alice", "acme", "alice@acme.example", "desktop", "stop", "2026-10-05T09:00:00Z"),
    )
    now, tz = utcnow(), billing_timezone()

    before = estimate_month(acme, now, tz)
    after = estimate_month(acme, now, tz, adding={"desktop": [alice], "exchange": [alice]})

    assert before.totals == {"USD": 3900}
    assert after.totals == {"USD": 3900 + 800}  # her desktop counted once; the mailbox is new
