"""Integration (RMM) tokens: usage only, for mapped clients only; event ids per sender; snapshots;
read-back with keyset pagination; source mappings through the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from werkzeug.test import TestResponse

from metering import IntervalSource, InvoiceLine, LedgerInterval, UsageEvent
from portal.accounts.integration_services import create_integration, create_integration_token, map_source
from portal.accounts.models import Integration, Role, UnmappedSource
from portal.catalog.models import Product, ProductBilling, ProductKind, ProductPrice
from portal.db import db
from tests.portal.api.conftest import TESTS, Api, error_of


def put(api: Api, path: str, body: Any) -> TestResponse:
    return api.http.put(
        "/api/v1" + path, data=json.dumps(body), content_type="application/json", headers=api._headers(None)
    )


@pytest.fixture
def ninja(acme) -> Integration:
    integration = create_integration(TESTS, "ninjaone", "NinjaOne RMM")
    map_source(TESTS, integration, "org-17", acme)
    db.session.commit()
    return integration


@pytest.fixture
def rmm_api(ninja, api_as):
    _token, raw = create_integration_token(TESTS, ninja, "NinjaOne nightly")
    db.session.commit()
    return api_as(raw)


@pytest.fixture
def devices_product(catalog) -> Product:
    product = Product(
        code="rmm-agents",
        name="Managed devices",
        kind=ProductKind.DESKTOP,
        price_minor=300,
        billing=ProductBilling.METERED,
        unit="device",
    )
    product.prices.append(ProductPrice(effective_from="2000-01", amount_minor=300, currency="USD"))
    db.session.add(product)
    db.session.commit()
    return product


def _start(event_id: str, **where: str) -> dict[str, str]:
    return {
        "id": event_id,
        "user": "alice@acme.example",
        "product": "desktop",
        "action": "start",
        "at": "2026-10-03T09:00:00Z",
        **where,
    }


def _snapshot(as_of: str, users: list[str], org: str = "org-17", **extra) -> dict:
    return {
        "source": "ninjaone",
        "external_org": org,
        "product": "desktop",
        "as_of": as_of,
        "users": users,
    } | extra


# --- done when: an RMM token cannot touch an unmapped client or anything but usage ----------------


def test_rmm_token_cannot_touch_an_unmapped_client_or_anything_but_usage(
    rmm_api, bright, known_seat, make_end_user
):
    # Usage for a client no mapping names: refused, naming it, nothing stored.
    by_ref = rmm_api.post("/usage-events", {"events": [_start("e-1", client="bright")]})
    assert by_ref.status_code == 422
    assert "unknown client 'bright'" in error_of(by_ref)["fields"]["events[0]"]
    snapshot = put(
        rmm_api,
        "/usage-snapshots",
        _snapshot("2026-10-03T09:00:00Z", ["x@bright.example"]) | {"external_org": "org-99"},
    )
    assert snapshot.status_code == 422
    assert "org-99" in error_of(snapshot)["message"]
    assert db.session.scalars(select(UsageEvent)).all() == []

    # Everything else in the API: forbidden, reads and writes alike.
    for method, path in [
        ("get", "/clients"),
        ("get", "/catalog"),
        ("get", "/seats?client=acme"),
        ("get", "/end-users?client=acme"),
        ("get", "/invoices?client=acme"),
        ("post", "/orders"),
        ("post", f"/seats/{known_seat}/unassign"),
        ("delete", f"/seats/{known_seat}"),
        ("put", "/integrations/ninjaone/mappings/org-99"),
        ("delete", "/integrations/ninjaone/mappings/org-17"),
    ]:
        if method == "put":
            response = put(rmm_api, path, {"client": "bright"})
        elif method == "post":
            response = rmm_api.post(path, {"client": "bright"})
        else:
            response = getattr(rmm_api, method)(path)
        assert response.status_code == 403, (method, path, response.get_data(as_text=True))

    # Reading back shows its own submissions only: none for a client it does not serve.
    assert rmm_api.get("/usage-events?client=bright").get_json()["events"] == []

    # Its own mapped client: accepted.
    ok = rmm_api.post("/usage-events", {"events": [_start("e-2", external_org="org-17")]})
    assert ok.status_code == 202, ok.get_json()


@pytest.fixture
def known_seat(acme, make_seats) -> int:
    return make_seats(acme, "desktop", 1)[0].id


def test_an_unmapped_organisation_is_a_422_naming_it_and_listed_for_mapping(rmm_api, reseller_api, ninja):
    response = rmm_api.post("/usage-events", {"events": [_start("e-1", external_org="site-Berlin")]})

    assert response.status_code == 422
    error = error_of(response)
    assert "site-Berlin" in error["message"]
    assert "not mapped" in error["fields"]["events[0]"]
    assert db.session.scalars(select(UnmappedSource.external_org)).all() == ["site-Berlin"]
    listed = reseller_api.get("/integrations/ninjaone/mappings").get_json()
    assert listed["unmapped"] == ["site-Berlin"]

    mapped = put(reseller_api, "/integrations/ninjaone/mappings/site-Berlin", {"client": "acme"})
    assert mapped.status_code == 200, mapped.get_json()
    assert (
        rmm_api.post("/usage-events", {"events": [_start("e-1", external_org="site-Berlin")]}).status_code
        == 202
    )
    listed = rmm_api.get("/integrations/ninjaone/mappings").get_json()
    assert listed["unmapped"] == []
    assert {"external_org": "site-Berlin", "client": "acme"} in listed["mappings"]


def test_an_integration_token_sees_no_other_integrations_mappings(rmm_api, acme):
    create_integration(TESTS, "datto", "Datto RMM")
    db.session.commit()

    assert rmm_api.get("/integrations/datto/mappings").status_code == 404


# --- done when: two senders' e-1 are both kept -----------------------------------------------------


def test_two_senders_e1_are_both_kept(rmm_api, reseller_api, acme, ninja, api_as):
    datto = create_integration(TESTS, "datto", "Datto RMM")
    map_source(TESTS, datto, "D-1", acme)
    _token, raw = create_integration_token(TESTS, datto, "Datto")
    db.session.commit()
    datto_api = api_as(raw)

    assert rmm_api.post("/usage-events", {"events": [_start("e-1", external_org="org-17")]}).get_json() == {
        "accepted": 1,
        "duplicates": 0,
    }
    assert datto_api.post("/usage-events", {"events": [_start("e-1", external_org="D-1")]}).get_json() == {
        "accepted": 1,
        "duplicates": 0,
    }
    assert reseller_api.post("/usage-events", {"events": [_start("e-1", client="acme")]}).get_json() == {
        "accepted": 1,
        "duplicates": 0,
    }
    # Each sender's own replay is still a duplicate.
    assert rmm_api.post("/usage-events", {"events": [_start("e-1", external_org="org-17")]}).get_json() == {
        "accepted": 0,
        "duplicates": 1,
    }
    senders = db.session.scalars(select(UsageEvent.sender).where(UsageEvent.event_id == "e-1"))
    assert sorted(senders) == sorted([f"integration:{datto.id}", f"integration:{ninja.id}", "reseller"])


# --- snapshots --------------------------------------------------------------------------------------


def _snapshot_intervals(user: str) -> list[tuple[datetime, datetime | None]]:
    rows = db.session.scalars(
        select(LedgerInterval)
        .where(LedgerInterval.user_key == user, LedgerInterval.source == IntervalSource.SNAPSHOT)
        .order_by(LedgerInterval.start_at)
    )
    return [(row.start_at, row.stop_at) for row in rows]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_a_person_absent_from_the_next_snapshot_stops_counting_at_that_moment(rmm_api):
    first = put(
        rmm_api,
        "/usage-snapshots",
        _snapshot("2026-10-01T06:00:00Z", ["Ann@acme.example", "bob@acme.example"]),
    )
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["outcome"] == "created"
    put(rmm_api, "/usage-snapshots", _snapshot("2026-10-02T06:00:00Z", ["ann@acme.example"]))

    assert _snapshot_intervals("ann@acme.example") == [(_utc("2026-10-01T06:00:00Z"), None)]
    assert _snapshot_intervals("bob@acme.example") == [
        (_utc("2026-10-01T06:00:00Z"), _utc("2026-10-02T06:00:00Z"))
    ]


def test_a_replayed_or_out_of_order_snapshot_changes_nothing(rmm_api):
    days = {
        "2026-10-01T06:00:00Z": ["ann@acme.example", "bob@acme.example"],
        "2026-10-02T06:00:00Z": ["ann@acme.example"],
        "2026-10-03T06:00:00Z": ["ann@acme.example", "bob@acme.example"],
    }
    # Sent newest first, the middle one last: the ledger follows the snapshots' moments.
    for as_of in ["2026-10-03T06:00:00Z", "2026-10-01T06:00:00Z", "2026-10-02T06:00:00Z"]:
        assert put(rmm_api, "/usage-snapshots", _snapshot(as_of, days[as_of])).status_code == 200
    expected_bob = [
        (_utc("2026-10-01T06:00:00Z"), _utc("2026-10-02T06:00:00Z")),
        (_utc("2026-10-03T06:00:00Z"), None),
    ]
    assert _snapshot_intervals("bob@acme.example") == expected_bob
    assert _snapshot_intervals("ann@acme.example") == [(_utc("2026-10-01T06:00:00Z"), None)]
    rows_before = {(row.id, row.start_at, row.stop_at) for row in db.session.scalars(select(LedgerInterval))}

    # A replay of each, and an old one again: unchanged, and the ledger rows are the same rows.
    for as_of in ["2026-10-02T06:00:00Z", "2026-10-01T06:00:00Z", "2026-10-03T06:00:00Z"]:
        replay = put(rmm_api, "/usage-snapshots", _snapshot(as_of, list(reversed(days[as_of]))))
        assert replay.get_json()["outcome"] == "unchanged"
    db.session.expire_all()
    assert {
        (row.id, row.start_at, row.stop_at) for row in db.session.scalars(select(LedgerInterval))
    } == rows_before


def test_30_daily_snapshots_of_12_devices_bill_12_not_360(rmm_api, reseller_api, devices_product, acme):
    for day in range(1, 31):
        response = put(
            rmm_api,
            "/usage-snapshots",
            {
                "source": "ninjaone",
                "external_org": "org-17",
                "product": "rmm-agents",
                "as_of": f"2026-11-{day:02d}T02:00:00Z",
                "quantity": 12,
            },
        )
        assert response.status_code == 200, response.get_json()

    with time_machine.travel("2026-12-02T12:00:00Z", tick=True):
        closed = reseller_api.post("/billing/close", {"period": "2026-11"})
        assert closed.status_code == 200, closed.get_json()
        invoice = reseller_api.get("/invoices?client=acme&period=2026-11").get_json()

    (found,) = invoice["invoices"]
    (line,) = [line for line in found["lines"] if line["product"] == "rmm-agents"]
    print(f"30 daily snapshots of 12 devices bill quantity {line['quantity']}")
    assert line["quantity"] == 12
    assert line["amount_minor"] == 12 * 300
    description = db.session.scalars(
        select(InvoiceLine.description).where(InvoiceLine.product_id == devices_product.id)
    )
    assert list(description) == ["Managed devices — 12 devices (monthly peak), November 2026"]


def test_per_user_snapshot_products_refuse_a_quantity_and_device_products_a_user_list(
    rmm_api, devices_product
):
    wrong = put(
        rmm_api, "/usage-snapshots", _snapshot("2026-10-01T06:00:00Z", [], quantity=3) | {"users": None}
    )
    assert wrong.status_code in (400, 422)
    per_device = put(
        rmm_api,
        "/usage-snapshots",
        _snapshot("2026-10-01T06:00:00Z", ["a@acme.example"]) | {"product": "rmm-agents"},
    )
    assert per_device.status_code == 422
    assert "quantity" in error_of(per_device)["message"]


def test_a_token_sends_for_its_own_source_only(rmm_api, acme):
    create_integration(TESTS, "datto", "Datto RMM")
    db.session.commit()

    response = put(rmm_api, "/usage-snapshots", _snapshot("2026-10-01T06:00:00Z", []) | {"source": "datto"})

    assert response.status_code == 403


# --- read-back ---------------------------------------------------------------------------------------


def test_read_back_filters_and_pages_with_a_keyset_cursor(rmm_api, reseller_api):
    events = [
        _start(f"e-{n}", external_org="org-17")
        | {"user": f"u{n}@acme.example", "at": f"2026-10-{n:02d}T09:00:00Z"}
        for n in range(1, 6)
    ]
    assert rmm_api.post("/usage-events", {"events": events}).status_code == 202
    reseller_api.post("/usage-events", {"events": [_start("r-1", client="acme")]})

    first = rmm_api.get("/usage-events?limit=2&since=2026-10-02T00:00:00Z").get_json()
    assert [event["id"] for event in first["events"]] == ["e-2", "e-3"]
    second = rmm_api.get(
        f"/usage-events?limit=2&since=2026-10-02T00:00:00Z&after={first['next_after']}"
    ).get_json()
    assert [event["id"] for event in second["events"]] == ["e-4", "e-5"]
    assert second["next_after"] is None
    # The integration reads back only its own; the reseller reads everyone's.
    assert "r-1" not in [event["id"] for event in rmm_api.get("/usage-events?limit=100").get_json()["events"]]
    everyone = reseller_api.get("/usage-events?client=acme&until=2026-10-04T00:00:00Z").get_json()
    assert sorted(event["id"] for event in everyone["events"]) == ["e-1", "e-2", "e-3", "r-1"]

    put(rmm_api, "/usage-snapshots", _snapshot("2026-10-01T06:00:00Z", ["ann@acme.example"]))
    snapshots = rmm_api.get("/usage-snapshots?client=acme&product=desktop").get_json()
    assert [(s["external_org"], s["users"]) for s in snapshots["snapshots"]] == [
        ("org-17", ["ann@acme.example"])
    ]
    bad = rmm_api.get("/usage-events?since=yesterday")
    assert bad.status_code == 422
    assert "since" in error_of(bad)["fields"]


def test_integration_token_needs_an_integration(acme):
    from portal.accounts.token_services import create_api_token
    from portal.errors import InvalidInput

    with pytest.raises(InvalidInput):
        create_api_token(TESTS, "rmm", Role.INTEGRATION, None)


def test_replaying_every_snapshot_after_the_close_leaves_the_bill_unchanged(
    rmm_api, reseller_api, devices_product
):
    bodies = [
        _snapshot("2026-11-01T06:00:00Z", ["ann@acme.example", "bob@acme.example"]),
        _snapshot("2026-11-02T06:00:00Z", ["ann@acme.example"]),
    ] + [
        {
            "source": "ninjaone",
            "external_org": "org-17",
            "product": "rmm-agents",
            "as_of": as_of,
            "quantity": n,
        }
        for as_of, n in [
            ("2026-11-01T06:00:00Z", 10),
            ("2026-11-15T06:00:00Z", 14),
            ("2026-11-30T06:00:00Z", 11),
        ]
    ]
    for body in bodies:
        assert put(rmm_api, "/usage-snapshots", body).get_json()["outcome"] == "created"
    with time_machine.travel("2026-12-02T12:00:00Z", tick=True):
        first = reseller_api.post("/billing/close", {"period": "2026-11"}).get_json()
        for body in reversed(bodies):
            assert put(rmm_api, "/usage-snapshots", body).get_json()["outcome"] == "unchanged"
        again = reseller_api.post("/billing/close", {"period": "2026-11"}).get_json()
        (invoice,) = reseller_api.get("/invoices?client=acme&period=2026-11").get_json()["invoices"]

    assert first["outcomes"] == {"created": 1}
    assert again["outcomes"] == {"unchanged": 1}
    quantities = {line["product"]: line["quantity"] for line in invoice["lines"]}
    assert quantities == {"desktop": 2, "rmm-agents": 14}


def test_a_corrected_snapshot_for_the_same_moment_replaces_the_first(rmm_api):
    put(rmm_api, "/usage-snapshots", _snapshot("2026-10-01T06:00:00Z", ["ann@acme.example"]))
    put(rmm_api, "/usage-snapshots", _snapshot("2026-10-02T06:00:00Z", ["ann@acme.example"]))

    corrected = put(rmm_api, "/usage-snapshots", _snapshot("2026-10-02T06:00:00Z", []))

    assert corrected.get_json()["outcome"] == "replaced"
    assert _snapshot_intervals("ann@acme.example") == [
        (_utc("2026-10-01T06:00:00Z"), _utc("2026-10-02T06:00:00Z"))
    ]
    listed = rmm_api.get("/usage-snapshots").get_json()["snapshots"]
    assert [(s["as_of"], s["users"]) for s in listed] == [
        ("2026-10-01T06:00:00Z", ["ann@acme.example"]),
        ("2026-10-02T06:00:00Z", []),
    ]
