"""The default catalog: seeded once, refreshed without losing the reseller's prices."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.catalog.models import LicenceSku, Product
from portal.catalog.services import get_product, list_products, seed_catalog, set_product_price
from portal.db import db
from tests.metering.months import Month, event

ACTOR = Actor.system("tests")


def test_seed_creates_the_products_with_their_bills_of_licences(app):
    seed_catalog(ACTOR)

    products = {
        p.code: (p.name, p.price_minor, p.currency, sorted(s.code for s in p.skus)) for p in list_products()
    }
    assert products == {
        "desktop": ("Hosted Desktop", 3900, "USD", ["OFFSTD-SAL", "WINRDS-SAL"]),
        "desktop-pro": ("Hosted Desktop Pro", 4900, "USD", ["OFFPRO-SAL", "WINRDS-SAL"]),
        "exchange": ("Hosted Exchange Mailbox", 800, "USD", ["EXSTD-SAL"]),
        "exchange-plus": ("Hosted Exchange Mailbox with Outlook", 1200, "USD", ["EXSTDPLUS-SAL"]),
        "voip": ("Hosted VoIP Seat", 2200, "USD", []),
        "voip-minutes": ("VoIP call minutes", 2, "USD", []),
    }
    sku_names = dict(db.session.execute(select(LicenceSku.code, LicenceSku.name)).all())
    assert sku_names["WINRDS-SAL"] == "Windows Server Remote Desktop Services SAL"
    assert sku_names["OFFPRO-SAL"] == "Office Professional Plus SAL"
    assert all(cost > 0 for cost in db.session.scalars(select(LicenceSku.spla_cost_minor)))


def test_seed_twice_changes_nothing_and_keeps_edited_prices(app):
    seed_catalog(ACTOR)
    set_product_price(ACTOR, get_product("desktop"), 4150)

    second = seed_catalog(ACTOR)

    assert second.created == [] and second.updated == []
    assert db.session.scalar(select(func.count(Product.id))) == 6
    assert get_product("desktop").price_minor == 4150


def test_seed_repairs_a_changed_bill_of_licences(app):
    seed_catalog(ACTOR)
    desktop = get_product("desktop")
    desktop.skus = []
    db.session.flush()

    result = seed_catalog(ACTOR)

    assert result.updated == ["product desktop"]
    assert sorted(s.code for s in get_product("desktop").skus) == ["OFFSTD-SAL", "WINRDS-SAL"]


def test_price_change_is_audited_with_before_and_after(app):
    seed_catalog(ACTOR)

    set_product_price(Actor(label="nora@msp.example"), get_product("exchange"), 900)

    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "catalog.price_changed")).one()
    assert (event.actor, event.object_id) == ("nora@msp.example", "exchange")
    assert event.details == {"from_minor": 800, "to_minor": 900, "currency": "USD"}


def test_with_the_default_placements_only_colo_seats_report_spla_sals(app, make_client, time_machine):
    seed_catalog(Actor.system("tests"), placements_from="2000-01")
    db.session.commit()
    make_client("acme")
    month = Month()
    # Reported by the colo's own tools (usage events name no platform): the products' own SPLA bills.
    month.events(
        event("c1", "acme", "carol@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("c2", "acme", "carol@acme.example", "exchange", "start", "2026-10-03T09:00:00Z"),
    )
    time_machine.move_to("2026-11-02T12:00:00Z")

    assert sorted(month.spla("2026-10")) == [
        ("acme", "EXSTD-SAL", 1),
        ("acme", "OFFSTD-SAL", 1),
        ("acme", "WINRDS-SAL", 1),
    ]
