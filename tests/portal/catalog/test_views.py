"""The price book page: admins edit prices and costs, staff only read."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.catalog.models import Placement, Product
from portal.catalog.services import get_product, get_sku, seed_catalog
from portal.db import db
from tests.metering.months import Month, event


def test_admin_changes_a_price(client, catalog, make_user, login):
    login(make_user(Role.RESELLER_ADMIN))

    response = client.post("/reseller/price-book/products/desktop", data={"price": "41.50"})

    assert response.status_code == 302
    db.session.expire_all()
    assert get_product("desktop").price_minor == 4150
    page = client.get("/reseller/price-book/")
    assert b"Hosted Desktop now costs $41.50 a month." in page.data


def test_admin_changes_an_spla_cost_and_sees_the_margin(client, catalog, make_user, login):
    login(make_user(Role.RESELLER_ADMIN))

    client.post("/reseller/price-book/skus/EXSTD-SAL", data={"cost": "5.00"})

    db.session.expire_all()
    assert get_sku("EXSTD-SAL").spla_cost_minor == 500
    page = client.get("/reseller/price-book/").get_data(as_text=True)
    exchange_row = page.split('id="product-exchange"')[1].split("</tr>")[0]
    assert "$3.00" in exchange_row  # 8.00 price less 5.00 SPLA cost


def test_bad_amount_is_shown_next_to_the_field(client, catalog, make_user, login):
    login(make_user(Role.RESELLER_ADMIN))

    for bad, says in [("forty", "is not an amount"), ("-3", "zero or more"), ("1.999", "two decimal places")]:
        response = client.post("/reseller/price-book/products/voip", data={"price": bad})
        assert response.status_code == 422
        assert says in response.get_data(as_text=True)
    db.session.expire_all()
    assert get_product("voip").price_minor == 2200


def test_unknown_product_is_404(client, catalog, make_user, login):
    login(make_user(Role.RESELLER_ADMIN))

    assert client.post("/reseller/price-book/products/nope", data={"price": "1"}).status_code == 404


def test_staff_reads_the_price_book_but_cannot_change_it(client, catalog, make_user, login):
    login(make_user(Role.RESELLER_STAFF))

    page = client.get("/reseller/price-book/")
    assert page.status_code == 200
    assert b"$39.00" in page.data
    assert b'action="/reseller/price-book/products/desktop"' not in page.data
    assert client.post("/reseller/price-book/products/desktop", data={"price": "1.00"}).status_code == 403
    db.session.expire_all()
    assert get_product("desktop").price_minor == 3900


def test_clients_cannot_see_the_price_book(client, catalog, make_user, make_client, login):
    login(make_user(Role.CLIENT_ADMIN, make_client("acme")))

    assert client.get("/reseller/price-book/").status_code == 403


def test_a_price_from_a_month_is_kept_in_the_history(client, catalog, make_user, login, time_machine):
    time_machine.move_to("2026-11-02T12:00:00Z")
    login(make_user(Role.RESELLER_ADMIN))

    response = client.post("/reseller/price-book/products/desktop", data={"price": "41.50", "from_month": ""})
    client.post("/reseller/price-book/skus/EXSTD-SAL", data={"cost": "5.00", "from_month": "2026-11"})

    assert response.status_code == 302
    db.session.expire_all()
    assert [(row.effective_from, row.amount_minor) for row in get_product("desktop").prices] == [
        ("2000-01", 3900),
        ("2026-12", 4150),  # empty: the next month
    ]
    assert [(row.effective_from, row.amount_minor) for row in get_sku("EXSTD-SAL").costs] == [
        ("2000-01", 420),
        ("2026-11", 500),
    ]
    assert "Months from December 2026 on are billed at it." in client.get("/reseller/price-book/").get_data(
        as_text=True
    )


def test_a_bad_from_month_is_shown_and_nothing_is_saved(client, catalog, make_user, login):
    login(make_user(Role.RESELLER_ADMIN))

    response = client.post(
        "/reseller/price-book/products/desktop", data={"price": "41.50", "from_month": "2026-13"}
    )

    assert response.status_code == 422
    assert "“2026-13” is not a month: write YYYY-MM" in response.get_data(as_text=True)
    db.session.expire_all()
    assert [(row.effective_from, row.amount_minor) for row in get_product("desktop").prices] == [
        ("2000-01", 3900)
    ]


def _placement_row(page: str, product: str, platform: str) -> str:
    return page.split(f'id="placement-{product}-{platform}"')[1].split("</tr>")[0]


def _bills(product: str, platform: str) -> list[tuple[str, list[str]]]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(Placement)
        .join(Product)
        .where(Product.code == product, Placement.platform == platform)
        .order_by(Placement.effective_from)
    )
    return [(row.effective_from, [sku.code for sku in row.skus]) for row in rows]


def test_the_price_book_shows_where_each_product_runs_and_its_programme(
    client, app, make_user, login, time_machine
):
    time_machine.move_to("2026-11-02T12:00:00Z")
    seed_catalog(Actor.system("tests"), placements_from="2000-01")
    db.session.commit()
    login(make_user(Role.RESELLER_STAFF))

    page = client.get("/reseller/price-book/").get_data(as_text=True)

    workspaces = _placement_row(page, "desktop", "workspaces")
    assert "Amazon WorkSpaces" in workspaces and "(in use)" in workspaces  # the default adapter
    assert "AWS (cost only)" in workspaces and "AWS-WSP-STD" in workspaces
    colo = _placement_row(page, "desktop", "active_directory")
    assert "Microsoft SPLA" in colo and "WINRDS-SAL" in colo and "OFFSTD-SAL" in colo
    assert "(in use)" not in colo
    assert "Amazon WorkMail" in _placement_row(page, "exchange", "workmail")
    assert "no licence" in _placement_row(page, "voip", "kamailio")
    # Staff read it; only an admin gets the form.
    assert 'action="/reseller/price-book/products/desktop/placements/workspaces"' not in page


def test_admin_changes_a_bill_of_licences_after_confirming_it(
    client, catalog, make_user, login, time_machine
):
    time_machine.move_to("2026-11-02T12:00:00Z")
    login(make_user(Role.RESELLER_ADMIN))
    url = "/reseller/price-book/products/desktop/placements/workspaces"

    review = client.post(url, data={"skus": "aws-wsp-std", "from_month": ""})

    assert review.status_code == 200
    text = review.get_data(as_text=True)
    assert "Confirm the change of licences" in text and "December 2026" in text
    assert "AWS-WSP-STD</code> (AWS (cost only))" in text
    assert _bills("desktop", "workspaces") == []  # nothing saved before the confirmation

    done = client.post(url, data={"skus": "aws-wsp-std", "from_month": "2026-12", "confirmed": "yes"})

    assert done.status_code == 302
    assert _bills("desktop", "workspaces") == [("2026-12", ["AWS-WSP-STD"])]
    page = client.get("/reseller/price-book/").get_data(as_text=True)
    assert "needs AWS-WSP-STD from December 2026 on" in page
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "catalog.placement_changed")
    ).one()
    assert event.details == {"platform": "workspaces", "from": "2026-12", "skus": ["AWS-WSP-STD"]}


def test_a_bad_bill_of_licences_is_shown_and_nothing_is_saved(
    client, catalog, make_user, make_client, login, time_machine
):
    make_client("acme")
    month = Month()
    month.events(event("a1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    time_machine.move_to("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    login(make_user(Role.RESELLER_ADMIN))
    url = "/reseller/price-book/products/desktop/placements/workspaces"

    for data, says in [
        ({"skus": "NOPE-SAL"}, "No licence SKU with the code NOPE-SAL; nothing was changed."),
        ({"skus": "WINRDS-SAL", "from_month": "2026-10"}, "2026-10 has finalized invoices"),
        (
            {"skus": "WINRDS-SAL", "from_month": "2026-10", "confirmed": "yes"},
            "2026-10 has finalized invoices",
        ),
        ({"skus": "WINRDS-SAL", "from_month": "soon"}, "“soon” is not a month"),
    ]:
        response = client.post(url, data=data)
        assert response.status_code == 422, data
        assert says in response.get_data(as_text=True)
    assert (
        client.post("/reseller/price-book/products/desktop/placements/kamailio", data={}).status_code == 404
    )
    assert _bills("desktop", "workspaces") == []
