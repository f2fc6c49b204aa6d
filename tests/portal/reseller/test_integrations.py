"""The console's Integrations pages: add a tool, map its ids (the unmapped ones listed first), create
and revoke its tokens, and choose peak or average for per-device products."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from metering import (
    BillingPeriod,
    Invoice,
    Sender,
    SnapshotAggregate,
    SnapshotRule,
    UnmappedSources,
    billing_timezone,
    close_in_one_transaction,
    ingest_usage_events,
    put_usage_snapshot,
)
from portal.accounts.integration_services import create_integration, map_source, note_unmapped_sources
from portal.accounts.models import ApiToken, Integration, Role, SourceMapping, UnmappedSource
from portal.accounts.token_services import authenticate_api_token
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db

SETUP = Actor.system("tests")


def test_admin_adds_a_tool_maps_an_unmapped_id_and_gets_a_token_shown_once(client, admin, make_client):
    make_client("acme", "Acme Law LLP")

    added = client.post("/reseller/integrations/", data={"source": "ninjaone", "name": "NinjaOne RMM"})
    assert added.status_code == 302
    integration = db.session.scalars(select(Integration)).one()

    # The tool sends usage for an id nobody mapped: refused, and the id is listed on the console.
    try:
        ingest_usage_events(
            SETUP,
            [{"id": "e-1", "external_org": "org-17", "user": "a@acme.example", "product": "desktop",
              "action": "start", "at": "2026-10-01T09:00:00Z"}],
            sender=Sender.of_integration(integration),
        )  # fmt: skip
    except UnmappedSources as error:
        db.session.rollback()
        note_unmapped_sources(error.integration_id, error.external_orgs)
        db.session.commit()
    page = client.get("/reseller/integrations/ninjaone").get_data(as_text=True)
    assert "Organisation ids to map" in page and "<code>org-17</code>" in page

    assert db.session.scalars(select(SourceMapping)).all() == []
    (waiting,) = db.session.scalars(select(UnmappedSource)).all()
    mapped = client.post(
        f"/reseller/integrations/ninjaone/unmapped/{waiting.id}",
        data={f"u{waiting.id}-external_org": "org-17", f"u{waiting.id}-client": "acme"},
    )
    assert mapped.status_code == 302, mapped.get_data(as_text=True)
    page = client.get("/reseller/integrations/ninjaone").get_data(as_text=True)
    assert "Nothing to map" in page and "Acme Law LLP" in page

    created = client.post("/reseller/integrations/ninjaone/tokens", data={"name": "nightly"})
    shown = created.get_data(as_text=True)
    assert created.status_code == 200 and 'id="new-token"' in shown
    raw = shown.split('<code class="token">')[1].split("</code>")[0]
    token = authenticate_api_token(raw)
    assert token is not None and token.role is Role.INTEGRATION
    assert raw not in client.get("/reseller/integrations/ninjaone").get_data(as_text=True)

    revoked = client.post(f"/reseller/integrations/ninjaone/tokens/{token.id}/revoke")
    assert revoked.status_code == 302
    db.session.expire_all()
    assert db.session.scalars(select(ApiToken.revoked_at)).one() is not None
    assert authenticate_api_token(raw) is None


def test_a_bad_source_name_is_explained_not_a_500(client, admin):
    response = client.post("/reseller/integrations/", data={"source": "Ninja One!", "name": "x"})

    assert response.status_code == 422
    assert "lowercase letters" in response.get_data(as_text=True)


def test_staff_sees_the_pages_but_changes_nothing(client, staff, catalog):
    create_integration(SETUP, "datto", "Datto RMM")
    db.session.commit()

    assert client.get("/reseller/integrations/").status_code == 200
    page = client.get("/reseller/integrations/datto").get_data(as_text=True)
    assert "Create a token" not in page
    assert client.post("/reseller/integrations/datto/tokens", data={"name": "x"}).status_code == 403
    assert client.post("/reseller/integrations/", data={"source": "x1", "name": "x"}).status_code == 403
    assert client.get("/reseller/integrations/nobody").status_code == 404


def test_admin_bills_a_per_device_product_on_its_average(client, admin, catalog):
    minutes = get_product("voip-minutes")

    response = client.post(
        f"/reseller/integrations/devices/{minutes.id}", data={f"p{minutes.id}-aggregate": "average"}
    )

    assert response.status_code == 302
    assert db.session.get(SnapshotRule, minutes.id).aggregate is SnapshotAggregate.AVERAGE
    assert "the month's average" in client.get("/reseller/integrations/").get_data(as_text=True)


def test_a_bill_shows_people_counted_from_rmm_snapshots(client, staff, make_client, catalog):
    acme = make_client("acme", "Acme Law LLP")
    integration = create_integration(SETUP, "ninjaone", "NinjaOne RMM")
    map_source(SETUP, integration, "org-17", acme)
    sender = Sender.of_integration(integration)
    for day, users in [("01", ["ann@acme.example", "bob@acme.example"]), ("02", ["ann@acme.example"])]:
        put_usage_snapshot(
            SETUP,
            sender,
            {"source": "ninjaone", "external_org": "org-17", "product": "desktop",
             "as_of": f"2026-10-{day}T02:00:00Z", "users": users},
        )  # fmt: skip
    db.session.commit()
    close_in_one_transaction(
        SETUP, BillingPeriod(2026, 10), billing_timezone(), datetime(2026, 11, 2, tzinfo=UTC)
    )
    db.session.commit()
    invoice = db.session.scalars(select(Invoice).where(Invoice.client_id == acme.id)).one()

    page = client.get(f"/reseller/review/2026-10/invoices/{invoice.id}")

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "RMM snapshots" in text and "bob@acme.example" in text
    assert [(line.quantity, line.product.code) for line in invoice.lines] == [(2, "desktop")]
