"""The audit log: filters by who, what, when and client; reachable from the price book."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.accounts.models import Role
from portal.audit.services import Actor, record
from portal.db import db


def test_who_changed_a_price_is_one_click_from_the_price_book(client, catalog, make_user, login):
    admin = make_user(Role.RESELLER_ADMIN)
    login(admin)
    client.post("/reseller/price-book/products/desktop", data={"price": "41.50"})

    price_book = client.get("/reseller/price-book/").get_data(as_text=True)
    assert 'href="/reseller/audit/?action=catalog."' in price_book

    log = client.get("/reseller/audit/?action=catalog.").get_data(as_text=True)
    assert "catalog.price_changed" in log
    assert admin.email in log
    assert "from_minor: 3900; to_minor: 4150" in log


def _event(action: str, when: datetime, actor: str = "someone@example.com") -> None:
    event = record(Actor.system(actor), action, "thing", 1)
    event.at = when
    db.session.commit()


def test_filter_by_a_range_of_dates(client, app, staff):
    _event("test.before", datetime(2026, 9, 30, 23, 59, tzinfo=UTC))
    _event("test.first-day", datetime(2026, 10, 1, 0, 0, tzinfo=UTC))
    _event("test.last-day", datetime(2026, 10, 31, 23, 59, tzinfo=UTC))
    _event("test.after", datetime(2026, 11, 1, 0, 0, tzinfo=UTC))

    page = client.get("/reseller/audit/?action=test.&since=2026-10-01&until=2026-10-31").get_data(
        as_text=True
    )

    assert "test.first-day" in page and "test.last-day" in page
    assert "test.before" not in page and "test.after" not in page
    only_since = client.get("/reseller/audit/?action=test.&since=2026-10-31").get_data(as_text=True)
    assert "test.last-day" in only_since and "test.after" in only_since and "test.first-day" not in only_since


def test_filter_by_who_and_client(client, staff, make_client):
    acme = make_client("acme")
    record(Actor.system("robot@acme.example"), "test.acme", "thing", 1, client_id=acme.id)
    record(Actor.system("human@other.example"), "test.other", "thing", 2)
    db.session.commit()

    by_client = client.get("/reseller/audit/?client=ACME").get_data(as_text=True)
    assert "test.acme" in by_client and "test.other" not in by_client
    by_actor = client.get("/reseller/audit/?actor=human").get_data(as_text=True)
    assert "test.other" in by_actor and "test.acme" not in by_actor


def test_bad_dates_are_field_errors_not_500s(client, staff):
    response = client.get("/reseller/audit/?since=2026-13-45&until=yesterday")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert page.count("Not a valid date value.") == 2

    backwards = client.get("/reseller/audit/?since=2026-10-31&until=2026-10-01")
    assert backwards.status_code == 422
    assert "Must be on or after the first date." in backwards.get_data(as_text=True)

    long = client.get("/reseller/audit/?client=" + "x" * 200)
    assert long.status_code == 422
    assert "Field cannot be longer than 32 characters." in long.get_data(as_text=True)
