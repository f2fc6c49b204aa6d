"""Paged lists in the API: `limit`/`cursor` with a `next` link, `q` search, `updated_since`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from portal.accounts.end_user_services import add_end_user, update_end_user
from portal.accounts.services import create_client
from portal.audit.services import Actor
from portal.db import db
from tests.portal.api.conftest import error_of

TESTS = Actor.system("tests")


def _walk(api: Any, first: str, key: str, between: Callable[[int], None]) -> list[Any]:
    """Every row of a list, page by page through the `next` links, calling ``between`` after each page."""
    rows: list[Any] = []
    link: str | None = first
    pages = 0
    while link is not None:
        response = api.get(link.removeprefix("/api/v1"))
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        rows += body[key]
        link = body["next"]
        pages += 1
        between(pages)
        assert pages < 50
    return rows


def test_end_user_pages_neither_lose_nor_repeat_a_person_while_people_are_added(acme_api, acme):
    for number in range(23):
        add_end_user(TESTS, acme, f"Person {number:02d}", f"p{number}@acme.com", None)
    db.session.commit()

    def add_two(page: int) -> None:
        # One sorts before every page read so far, one after: neither may shift what is read.
        add_end_user(TESTS, acme, f"Aaron {page}", f"aaron{page}@acme.com", None)
        add_end_user(TESTS, acme, f"Zed {page}", f"zed{page}@acme.com", None)
        db.session.commit()

    rows = _walk(acme_api, "/end-users?limit=5", "end_users", add_two)

    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    names = [row["name"] for row in rows]
    assert [name for name in names if name.startswith("Person")] == [f"Person {n:02d}" for n in range(23)]
    assert names == sorted(names)


def test_seat_pages_neither_lose_nor_repeat_a_seat_while_seats_are_ordered(acme_api, acme, make_seats):
    original = [seat.id for seat in make_seats(acme, "desktop", 12)]

    rows = _walk(acme_api, "/seats?limit=5", "seats", lambda page: make_seats(acme, "exchange", 1))

    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    assert set(original) <= set(ids)
    assert ids == sorted(ids)


def test_the_older_after_parameter_still_pages_seats(acme_api, acme, make_seats):
    ids = [seat.id for seat in make_seats(acme, "desktop", 3)]

    body = acme_api.get(f"/seats?limit=1&after={ids[0]}").get_json()

    assert [seat["id"] for seat in body["seats"]] == [ids[1]]
    assert body["next_after"] == ids[1]
    assert parse_qs(urlsplit(body["next"]).query)["limit"] == ["1"]
    assert acme_api.get(body["next"].removeprefix("/api/v1")).get_json()["seats"][0]["id"] == ids[2]


def test_client_pages_neither_lose_nor_repeat_a_client(reseller_api, make_client):
    for number in range(9):
        make_client(f"firm-{number}", f"Firm {number}")

    def add(page: int) -> None:
        create_client(TESTS, f"aaa-{page}", "Early")
        create_client(TESTS, f"zzz-{page}", "Late")
        db.session.commit()

    rows = _walk(reseller_api, "/clients?limit=4", "clients", add)

    refs = [row["ref"] for row in rows]
    assert len(refs) == len(set(refs))
    assert {f"firm-{number}" for number in range(9)} <= set(refs)


def test_search_finds_unicode_names_in_any_case_and_takes_percent_and_underscore_literally(
    acme_api, reseller_api, acme, make_client
):
    for name, email in (
        ("Ünï Öztürk", "uni@acme.com"),
        ("Straße Weiß", "weiss@acme.com"),
        ("Half 50% off", "half@acme.com"),
        ("Half 50x off", "halfx@acme.com"),
        ("Snake a_b", "snake@acme.com"),
        ("Snake axb", "snakex@acme.com"),
    ):
        add_end_user(TESTS, acme, name, email, None)
    db.session.commit()
    make_client("unicode", "Ünï Kanzlei")

    def names(query: str) -> list[str]:
        response = acme_api.get("/end-users", query_string={"q": query})
        assert response.status_code == 200
        return [row["name"] for row in response.get_json()["end_users"]]

    assert names("ünï") == ["Ünï Öztürk"]
    assert names("ÜNÏ ÖZ") == ["Ünï Öztürk"]
    assert names("STRASSE") == ["Straße Weiß"]  # casefold: ß is ss
    assert names("50%") == ["Half 50% off"]
    assert names("a_b") == ["Snake a_b"]
    assert names("%") == ["Half 50% off"]
    assert names("_") == ["Snake a_b"]
    assert names("WEISS@ACME") == ["Straße Weiß"]
    assert names("nobody") == []
    clients = reseller_api.get("/clients", query_string={"q": "ünï"}).get_json()["clients"]
    assert [client["ref"] for client in clients] == ["unicode"]


def test_a_seat_search_matches_the_person(acme_api, acme, make_end_user, make_seats):
    ann = make_end_user(acme, "Ännchen Müller", "ann@acme.com")
    make_seats(acme, "desktop", 1, [ann])
    make_seats(acme, "desktop", 2)

    seats = acme_api.get("/seats", query_string={"q": "ÄNNCHEN"}).get_json()["seats"]

    assert [seat["end_user"]["name"] for seat in seats] == ["Ännchen Müller"]


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "", "x" * 5000, "eyJkIjoibiIsImsiOlsxXX0.AAAA", "%00", "🙂", "1"],
)
def test_a_broken_cursor_is_a_plain_400(acme_api, acme, cursor):
    response = acme_api.get("/end-users", query_string={"cursor": cursor})

    if cursor == "":
        assert response.status_code == 200  # an empty cursor is the first page
        return
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_cursor"
    assert "not valid for this list" in error["message"]


def test_another_lists_cursor_is_a_400_not_a_page_of_this_list(
    acme_api, reseller_api, acme, make_client, make_seats
):
    for number in range(3):
        make_client(f"firm-{number}", f"Firm {number}")
    make_seats(acme, "desktop", 3)
    for number in range(3):
        add_end_user(TESTS, acme, f"P{number}", f"p{number}@acme.com", None)
    db.session.commit()
    clients_next = reseller_api.get("/clients?limit=1").get_json()["next"]
    client_cursor = parse_qs(urlsplit(clients_next).query)["cursor"][0]
    seats_next = acme_api.get("/seats?limit=1").get_json()["next"]
    seat_cursor = parse_qs(urlsplit(seats_next).query)["cursor"][0]

    for path, cursor in (
        ("/end-users", client_cursor),
        ("/seats", client_cursor),
        ("/end-users", seat_cursor),
        ("/invoices", seat_cursor),
        ("/clients", seat_cursor),
    ):
        api = reseller_api if path == "/clients" else acme_api
        response = api.get(path, query_string={"cursor": cursor})
        assert response.status_code == 400, path
        assert error_of(response)["code"] == "invalid_cursor"


def test_updated_since_lists_only_what_changed(acme_api, acme):
    ann = add_end_user(TESTS, acme, "Ann", "ann@acme.com", None)
    add_end_user(TESTS, acme, "Bob", "bob@acme.com", None)
    db.session.commit()
    synced_at = datetime.now(UTC) + timedelta(seconds=1)
    later = synced_at + timedelta(seconds=1)

    update_end_user(TESTS, ann, name="Ann Changed", email="ann@acme.com", extension=None)
    ann.updated_at = later  # the clock of the change, without sleeping
    db.session.commit()

    since = synced_at.isoformat().replace("+00:00", "Z")
    rows = acme_api.get("/end-users", query_string={"updated_since": since}).get_json()["end_users"]
    assert [row["name"] for row in rows] == ["Ann Changed"]
    bad = acme_api.get("/end-users", query_string={"updated_since": "yesterday"})
    assert bad.status_code == 422
    assert "updated_since" in error_of(bad)["fields"]


def test_the_openapi_document_describes_paging(acme_api):
    document = acme_api.get("/openapi.json").get_json()
    for path in ("/seats", "/end-users", "/clients", "/invoices"):
        operation = document["paths"]["/api/v1" + path]["get"]
        names = {parameter["name"] for parameter in operation["parameters"] if "name" in parameter}
        assert {"limit", "cursor"} <= names, path
        assert "400" in operation["responses"], path
    for schema in ("SeatList", "EndUserList", "ClientList", "InvoiceList"):
        assert "next" in document["components"]["schemas"][schema]["properties"]


def _invoice(client_id: int, period: str) -> None:
    from metering import Invoice

    moment = datetime(2026, 1, 1, tzinfo=UTC)
    db.session.add(
        Invoice(
            client_id=client_id,
            period=period,
            currency="USD",
            total_minor=100,
            starts_at=moment,
            ends_at=moment,
            built_at=moment,
        )
    )


def test_invoice_pages_go_newest_month_first_without_losing_or_repeating_one(reseller_api, make_client):
    firms = [make_client(f"firm-{number}", f"Firm {number}") for number in range(3)]
    for month in range(1, 7):
        for firm in firms:
            _invoice(firm.id, f"2025-{month:02d}")
    db.session.commit()

    def add(page: int) -> None:
        # A new month (sorts first) and an old one (sorts last) appear while the pages are read.
        _invoice(firms[page % 3].id, f"2026-{page:02d}")
        _invoice(firms[page % 3].id, f"2024-{page:02d}")
        db.session.commit()

    rows = _walk(reseller_api, "/invoices?limit=4", "invoices", add)

    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    old = [(row["period"], row["client"]) for row in rows if row["period"].startswith("2025")]
    assert len(old) == 18
    periods = [row["period"] for row in rows]
    assert periods == sorted(periods, reverse=True)
    found = reseller_api.get("/invoices", query_string={"q": "FIRM 1"}).get_json()["invoices"]
    assert found and {row["client"] for row in found} == {"firm-1"}
