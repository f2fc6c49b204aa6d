"""GET /catalog, GET and POST /clients."""

from __future__ import annotations

from portal.accounts.models import Client, Role
from portal.audit.models import AuditEvent
from portal.db import db
from tests.portal.api.conftest import error_of


def test_the_catalog_lists_products_with_skus_and_monthly_prices(acme, make_token, api_as):
    # An integration token may only send usage (tests/portal/api/test_integrations.py).
    for role in [role for role in Role if role is not Role.INTEGRATION]:
        api = api_as(make_token(role, None if role.is_reseller else acme))
        response = api.get("/catalog")

        assert response.status_code == 200
        products = {product["code"]: product for product in response.get_json()["products"]}
        assert products["desktop"]["price_minor"] == 3900
        assert products["desktop"]["currency"] == "USD"
        assert [sku["code"] for sku in products["desktop"]["skus"]] == ["OFFSTD-SAL", "WINRDS-SAL"]


def test_a_reseller_adds_a_client(reseller_api):
    response = reseller_api.post("/clients", {"ref": "newco", "name": "New Co LLP"})

    assert response.status_code == 201
    body = response.get_json()
    assert body["ref"] == "newco"
    assert body["name"] == "New Co LLP"
    assert body["status"] == "active"
    assert db.session.query(Client).filter_by(ref="newco").one()
    event = (
        db.session.query(AuditEvent).filter_by(action="client.created").order_by(AuditEvent.id.desc()).first()
    )
    assert event.actor_token_id is not None


def test_an_existing_ref_is_a_409(reseller_api, acme):
    response = reseller_api.post("/clients", {"ref": "acme", "name": "Another Acme"})

    assert response.status_code == 409
    assert error_of(response)["fields"] == {"ref": "Already taken."}


def test_a_bad_ref_or_billing_email_is_a_422(reseller_api):
    bad_ref = reseller_api.post("/clients", {"ref": "Acme Law", "name": "Acme"})
    bad_email = reseller_api.post("/clients", {"ref": "acme2", "name": "Acme", "billing_email": "x@y@z"})

    assert bad_ref.status_code == 422
    assert "ref" in error_of(bad_ref)["fields"]
    assert bad_email.status_code == 422
    assert "billing_email" in error_of(bad_email)["fields"]


def test_the_reseller_lists_its_clients(reseller_api, acme, bright):
    response = reseller_api.get("/clients")

    assert [client["ref"] for client in response.get_json()["clients"]] == ["acme", "bright"]
