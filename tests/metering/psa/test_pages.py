"""The console's PSA pages: missing settings said in words (never a 500), mapping from the PSA's own
lists, the sync's records with their reasons, and "sync again" / "overwrite" for admins only."""

from __future__ import annotations

import pytest

from metering.psa.models import PsaCompanyLink, PsaProductLink
from portal.accounts.models import Role
from portal.catalog.services import get_product
from portal.db import db
from tests.metering.psa.conftest import acme_desktop_edited_in_the_psa
from tests.standins.ports import free_port


@pytest.fixture
def admin(make_user, login):
    user = make_user(Role.RESELLER_ADMIN, email="ada@northwind-it.example")
    login(user)
    return user


@pytest.fixture
def staff(make_user, login):
    user = make_user(Role.RESELLER_STAFF, email="sam@northwind-it.example")
    login(user)
    return user


def test_missing_settings_are_named_on_both_pages(client, app, admin):
    app.config.update(CONNECTWISE_COMPANY_ID="northwind", CONNECTWISE_PUBLIC_KEY="public")

    sync_page = client.get("/reseller/psa/")
    mapping_page = client.get("/reseller/psa/mapping")

    assert sync_page.status_code == 200 and mapping_page.status_code == 200
    for page in (sync_page.text, mapping_page.text):
        assert "ConnectWise PSA is not configured" in page
        assert (
            "CONNECTWISE_URL" in page
            and "CONNECTWISE_CLIENT_ID" in page
            and "CONNECTWISE_PRIVATE_KEY" in page
        )
        assert "CONNECTWISE_COMPANY_ID" not in page and "CONNECTWISE_PUBLIC_KEY" not in page  # set


def test_a_psa_that_does_not_answer_is_said_in_words(client, app, psa, admin):
    app.config["CONNECTWISE_URL"] = f"http://127.0.0.1:{free_port()}"

    page = client.get("/reseller/psa/mapping")

    assert page.status_code == 200
    assert "ConnectWise PSA could not be read" in page.text
    response = client.post(f"/reseller/psa/mapping/clients/{psa.clients['acme'].id}", data={})
    assert response.status_code == 302


def test_an_admin_maps_a_client_and_a_product_from_the_psas_lists(client, psa, admin):
    acme = psa.clients["acme"]

    page = client.get("/reseller/psa/mapping")

    assert page.status_code == 200
    # Read page by page (2 a page): every company's agreement and both items are offered.
    assert page.text.count("Ltd: Hosted licences") >= 3 * 3
    assert "MAILBOX: Hosted Exchange mailbox" in page.text
    response = client.post(
        f"/reseller/psa/mapping/clients/{acme.id}", data={f"c{acme.id}-agreement": psa.agreements["acme"]}
    )
    assert response.status_code == 302
    exchange = get_product("exchange")
    client.post(
        f"/reseller/psa/mapping/products/{exchange.id}", data={f"p{exchange.id}-item": psa.items["exchange"]}
    )
    db.session.expire_all()
    link = db.session.query(PsaCompanyLink).filter_by(client_id=acme.id).one()
    assert (link.agreement_id, link.company_name) == (psa.agreements["acme"], "Acme Ltd")
    assert (
        db.session.query(PsaProductLink).filter_by(product_id=exchange.id).one().catalog_item_id
        == psa.items["exchange"]
    )


def test_an_agreement_the_psa_does_not_list_is_refused_in_words(client, psa, admin):
    acme = psa.clients["acme"]

    response = client.post(
        f"/reseller/psa/mapping/clients/{acme.id}", data={f"c{acme.id}-agreement": "999999"}
    )

    assert response.status_code == 302
    assert "pick one of the agreements" in client.get("/reseller/psa/mapping").text
    assert db.session.query(PsaCompanyLink).count() == 0


def test_staff_see_the_pages_but_cannot_map_or_sync(client, psa, staff):
    acme = psa.clients["acme"]

    assert client.get("/reseller/psa/").status_code == 200
    assert client.get("/reseller/psa/mapping").status_code == 200
    response = client.post(
        f"/reseller/psa/mapping/clients/{acme.id}", data={f"c{acme.id}-agreement": psa.agreements["acme"]}
    )
    assert response.status_code == 403
    assert client.post("/reseller/psa/records/1/again").status_code == 403


def test_the_sync_page_shows_a_conflict_and_the_admin_overwrites_it(client, psa, admin, travel):
    acme_desktop_edited_in_the_psa(psa)
    travel("2026-12-02T12:00:00Z")
    psa.month.close("2026-11")
    psa.month.finalize("2026-11")
    psa.sync("2026-11")

    page = client.get("/reseller/psa/")

    assert page.status_code == 200
    assert "changed in ConnectWise PSA to 5" in page.text
    assert 'id="count-conflict">1 conflict' in page.text
    record_id = next(r for r in psa.records_rows("2026-11") if r.state.value == "conflict").id
    response = client.post(f"/reseller/psa/records/{record_id}/overwrite")
    assert response.status_code == 302
    psa.sync("2026-11")
    assert psa.quantities()[(psa.agreements["acme"], "DESKTOP")] == 2


def test_sync_again_of_a_record_that_does_not_exist_is_a_404(client, psa, admin):
    assert client.post("/reseller/psa/records/424242/again").status_code == 404


def test_a_catalog_item_already_used_by_another_product_is_refused(client, psa, admin):
    desktop, exchange = get_product("desktop"), get_product("exchange")
    client.post(
        f"/reseller/psa/mapping/products/{desktop.id}", data={f"p{desktop.id}-item": psa.items["desktop"]}
    )

    client.post(
        f"/reseller/psa/mapping/products/{exchange.id}", data={f"p{exchange.id}-item": psa.items["desktop"]}
    )

    page = client.get("/reseller/psa/mapping").text
    assert "each product needs a catalog item of its own" in page
    assert db.session.query(PsaProductLink).filter_by(product_id=exchange.id).first() is None


def test_an_admin_marks_a_product_as_not_billed_through_the_psa(client, psa, admin):
    minutes = get_product("voip-minutes")

    response = client.post(f"/reseller/psa/mapping/products/{minutes.id}", data={f"p{minutes.id}-item": "0"})

    assert response.status_code == 302
    link = db.session.query(PsaProductLink).filter_by(product_id=minutes.id).one()
    assert link.catalog_item_id is None
    assert "Not billed through the PSA" in client.get("/reseller/psa/mapping").text
