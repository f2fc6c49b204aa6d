"""Paged lists on the pages: Next and Previous links, a labelled search, plain words when nothing is
found, and a plain 400 for a page link that is broken or belongs to another list."""

from __future__ import annotations

import re
from html import unescape

from flask.testing import FlaskClient

from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Role
from portal.accounts.services import create_client
from portal.audit.services import Actor, record
from portal.db import db

TESTS = Actor.system("tests")


def _link(page: str, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return unescape(match.group(1)) if match else None


def _walk(client: FlaskClient, first: str, row: str, between=lambda page: None) -> list[str]:
    seen: list[str] = []
    link: str | None = first
    pages = 0
    while link is not None:
        response = client.get(link)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        seen += re.findall(row, page)
        link = _link(page, "next")
        pages += 1
        between(pages)
        assert pages < 50
    return seen


def test_end_users_come_a_page_at_a_time_and_back(client, catalog, make_client, make_user, login):
    acme = make_client("acme", "Acme")
    login(make_user(Role.CLIENT_ADMIN, acme))
    for number in range(57):
        add_end_user(TESTS, acme, f"Person {number:02d}", f"p{number}@acme.com", None)
    db.session.commit()

    first = client.get("/client/end-users/").get_data(as_text=True)
    assert first.count('<tr id="end-user-') == 50
    assert _link(first, "prev") is None
    assert 'aria-label="Pages of people"' in first
    assert '<label for="list-search">Search people</label>' in first
    second = client.get(_link(first, "next")).get_data(as_text=True)
    assert second.count('<tr id="end-user-') == 7
    assert _link(second, "next") is None
    back = client.get(_link(second, "prev")).get_data(as_text=True)
    assert re.findall(r'id="end-user-(\d+)"', back) == re.findall(r'id="end-user-(\d+)"', first)


def test_end_user_pages_lose_and_repeat_nobody_while_people_are_added(
    client, catalog, make_client, make_user, login
):
    acme = make_client("acme", "Acme")
    login(make_user(Role.CLIENT_ADMIN, acme))
    for number in range(120):
        add_end_user(TESTS, acme, f"Person {number:03d}", f"p{number}@acme.com", None)
    db.session.commit()

    def add(page: int) -> None:
        add_end_user(TESTS, acme, f"Aaron {page}", f"a{page}@acme.com", None)
        add_end_user(TESTS, acme, f"Zed {page}", f"z{page}@acme.com", None)
        db.session.commit()

    ids = _walk(client, "/client/end-users/", r'id="end-user-(\d+)"', add)
    assert len(ids) == len(set(ids))
    assert len(ids) >= 120


def test_search_on_the_pages_finds_unicode_and_takes_percent_literally(
    client, catalog, make_client, make_user, login
):
    acme = make_client("acme", "Acme")
    login(make_user(Role.CLIENT_ADMIN, acme))
    add_end_user(TESTS, acme, "Ünï Öztürk", "uni@acme.com", None)
    add_end_user(TESTS, acme, "Half 50% off", "half@acme.com", None)
    add_end_user(TESTS, acme, "Half 500 off", "half5@acme.com", None)
    db.session.commit()

    found = client.get("/client/end-users/", query_string={"q": "ÜNÏ"}).get_data(as_text=True)
    assert "Ünï Öztürk" in found and "Half" not in found
    percent = client.get("/client/end-users/", query_string={"q": "0%"}).get_data(as_text=True)
    assert "Half 50% off" in percent and "Half 500 off" not in percent
    none = client.get("/client/end-users/", query_string={"q": "nobody"}).get_data(as_text=True)
    assert "Nobody matches “nobody”." in none


def test_a_broken_or_foreign_page_link_is_a_plain_400(client, catalog, make_client, make_user, login):
    acme = make_client("acme", "Acme")
    login(make_user(Role.CLIENT_ADMIN, acme))
    for number in range(55):
        add_end_user(TESTS, acme, f"Person {number:02d}", f"p{number}@acme.com", None)
    db.session.commit()
    people_next = _link(client.get("/client/end-users/").get_data(as_text=True), "next")
    assert people_next is not None
    cursor = people_next.split("cursor=")[1]

    for path in ("/client/seats/", "/client/orders", "/billing/", "/client/end-users/"):
        for bad in (cursor, "garbage", "x" * 3000, "\x00", cursor[:-3]):
            if path == "/client/end-users/" and bad == cursor:
                continue
            response = client.get(path, query_string={"cursor": bad})
            assert response.status_code == 400, (path, bad[:20])
            assert "This page link is not valid" in response.get_data(as_text=True)


def test_reseller_clients_and_audit_log_page(client, catalog, make_user, login):
    login(make_user(Role.RESELLER_ADMIN))
    for number in range(55):
        create_client(TESTS, f"firm-{number:02d}", f"Firm {number:02d}")
    create_client(TESTS, "kanzlei", "Ünï Kanzlei")
    create_client(TESTS, "under", "Under_score")
    for number in range(130):
        record(TESTS, "test.event", "thing", number)
    db.session.commit()

    refs = _walk(client, "/reseller/clients", r'href="/reseller/clients/([a-z0-9-]+)"')
    assert len(refs) == len(set(refs)) == 57
    found = client.get("/reseller/clients", query_string={"q": "ünï"}).get_data(as_text=True)
    assert "Ünï Kanzlei" in found and "Firm" not in found
    underscore = client.get("/reseller/clients", query_string={"q": "r_s"}).get_data(as_text=True)
    assert "Under_score" in underscore and "Firm" not in underscore
    assert "No client matches" in client.get("/reseller/clients?q=%25%25").get_data(as_text=True)
    events = _walk(client, "/reseller/audit/?action=test.", r"<td>thing (\d+)</td>")
    assert sorted(map(int, events)) == list(range(130))
    assert events[0] == "129"  # newest first


def test_seat_and_order_pages_lose_and_repeat_nothing_while_orders_are_placed(
    client, catalog, make_client, make_user, login
):
    from portal.catalog.services import get_product
    from provisioning import place_order

    acme = make_client("acme", "Acme")
    login(make_user(Role.CLIENT_ADMIN, acme))
    for _ in range(60):
        place_order(TESTS, acme, get_product("desktop"), 1, None)
    db.session.commit()

    def order_one(page: int) -> None:
        place_order(TESTS, acme, get_product("exchange"), 1, None)
        db.session.commit()

    seats = _walk(client, "/client/seats/", r'<tr id="seat-(\d+)"', order_one)
    assert len(seats) == len(set(seats)) >= 60
    orders = _walk(client, "/client/orders", r'<tr id="order-(\d+)"', order_one)
    assert len(orders) == len(set(orders)) >= 60
    assert [int(order) for order in orders] == sorted(map(int, orders), reverse=True)
